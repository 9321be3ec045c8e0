/*! yaynay iframe resizer: <iframe src=".../embed/ID?host=https://your.site" data-yaynay-embed height="900"></iframe><script src=".../embed.js" async></script> */
(function () {
  "use strict";
  var script = document.currentScript || document.querySelector('script[src*="/embed.js"]');
  var ORIGIN = new URL(script.src, location.href).origin;
  window.addEventListener("message", function (event) {
    // Only the service's own pages may resize a frame, and only the frame that sent the message.
    if (event.origin !== ORIGIN || !event.data || event.data.yaynay !== "height") return;
    var height = Number(event.data.height);
    if (!(height > 0 && height < 100000)) return;
    Array.prototype.forEach.call(document.querySelectorAll("iframe"), function (frame) {
      if (frame.contentWindow === event.source) frame.style.height = Math.ceil(height) + "px";
    });
  });
})();
