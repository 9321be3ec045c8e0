/* yaynay iframe page: dates in the page's language, and its height told to the host page. */
(function () {
  "use strict";
  var lang = document.documentElement.lang || undefined;
  var format;
  try { format = new Intl.DateTimeFormat(lang, { dateStyle: "long" }); } catch (e) { format = null; }
  if (format) {
    // The server wrote an ISO date as the fallback; the same pattern as widget.js replaces it.
    Array.prototype.forEach.call(document.querySelectorAll("time[datetime]"), function (node) {
      node.textContent = format.format(new Date(node.getAttribute("datetime")));
    });
  }

  // The host origin is one the server checked against ALLOWED_ORIGINS: the height goes there
  // and nowhere else, so no other page that frames us learns anything.
  var main = document.querySelector("main[data-host]");
  if (!main || window.parent === window) return;
  var host = main.getAttribute("data-host"), last = 0;
  function tell() {
    var height = Math.ceil(document.documentElement.scrollHeight);
    if (height === last) return;
    last = height;
    window.parent.postMessage({ yaynay: "height", height: height }, host);
  }
  tell();
  if (window.ResizeObserver) new ResizeObserver(tell).observe(document.body);
  window.addEventListener("load", tell);
})();
