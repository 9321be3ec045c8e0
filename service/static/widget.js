/*! yaynay widget: <div data-yaynay-poll="ID"></div><script src=".../widget.js" async></script> */
(function () {
  "use strict";

  var script = document.currentScript ||
    document.querySelector('script[src*="/widget.js"], script[src*="/widget."]');
  var ORIGIN = new URL(script.src, location.href).origin;
  var API = ORIGIN + "/api/v1";
  var TOKEN_KEY = "yaynay:voter";
  var POLL_EVERY = 5000;
  // The longest name and comment the service takes: the server writes its settings here.
  var LENGTHS = /*yaynay:lengths*/{"author": 80, "body": 5000, "edit": 900};
  var memory = {};

  var CSS = [
    ":host{all:initial;display:block!important;visibility:visible!important;opacity:1!important;",
    "--fg:#1a1a1a;--bg:#fff;--muted:#595959;--line:#d0d0d0;--yay:#1b7f3b;--nay:#b3261e;--on:#fff;--focus:#0b5cad;",
    "font:16px/1.5 system-ui,-apple-system,'Segoe UI',sans-serif;color:var(--fg)}",
    "@media (prefers-color-scheme:dark){:host{--fg:#f0f0f0;--bg:#1c1c1c;--muted:#b8b8b8;--line:#444;",
    "--yay:#7ee2a0;--nay:#ff9d94;--on:#111;--focus:#8ab4f8}}",
    // Set again on the panel: a host page's "div { font-size: 2px; color: white }" beats :host.
    ".w{font:16px/1.5 system-ui,-apple-system,'Segoe UI',sans-serif;color:var(--fg);text-align:left;",
    "background:var(--bg);border:1px solid var(--line);border-radius:10px;padding:1rem 1.2rem}",
    "h2{font-size:1.2rem;margin:0 0 .8rem}h3{font-size:1rem;margin:1.4rem 0 .5rem}",
    ".b{display:flex;gap:.6rem;margin-bottom:.8rem}",
    "button{font:inherit;font-weight:700;cursor:pointer;border-radius:6px;padding:.45rem 1.2rem;",
    "border:2px solid var(--fg);background:var(--bg);color:var(--fg)}",
    "button:focus-visible,input:focus-visible,textarea:focus-visible{outline:3px solid var(--focus);outline-offset:2px}",
    ".yay{border-color:var(--yay);color:var(--fg)}.nay{border-color:var(--nay);color:var(--fg)}",
    ".yay[aria-pressed=true]{background:var(--yay);color:var(--on)}.nay[aria-pressed=true]{background:var(--nay);color:var(--on)}",
    ".r{display:grid;grid-template-columns:3.2rem 1fr 6.5rem;gap:.5rem;align-items:center;margin:.25rem 0}",
    ".bar{height:.8rem;background:var(--line);border-radius:4px;overflow:hidden}",
    ".fill{height:100%;width:0;transition:width .4s}@media (prefers-reduced-motion:reduce){.fill{transition:none}}.r.yay .fill{background:var(--yay)}.r.nay .fill{background:var(--nay)}",
    ".r .n{text-align:right;font-variant-numeric:tabular-nums}.m{color:var(--muted);margin:.4rem 0}",
    ".msg:empty{display:none}.msg{margin:.5rem 0;font-weight:600}",
    "ol{list-style:none;padding:0;margin:0}li{border-top:1px solid var(--line);padding:.6rem 0}",
    ".who{font-weight:700;color:var(--fg)}.t{font-size:.75rem;font-weight:700;border-radius:3px;padding:0 .35rem;margin-left:.4rem;color:var(--on)}",
    ".t.yay{background:var(--yay)}.t.nay{background:var(--nay)}time{color:var(--muted);margin-left:.4rem;font-size:.9rem}",
    ".txt{white-space:pre-wrap;overflow-wrap:anywhere;margin:.25rem 0 0}a{color:var(--focus)}",
    ".replies{margin:.4rem 0 0 .4rem;padding-left:1rem;border-left:2px solid var(--line)}",
    ".replies li:first-child{border-top:0}.rp{font-size:.85rem;font-weight:600;padding:0;margin-top:.2rem;border:0;background:none;color:var(--focus);text-decoration:underline}",
    "label{display:block;font-weight:600;margin-top:.6rem}small{font-weight:400;color:var(--muted)}",
    "input,textarea{box-sizing:border-box;width:100%;font:inherit;padding:.4rem;color:var(--fg);background:var(--bg);",
    "border:1px solid var(--muted);border-radius:4px}textarea{min-height:6rem}.err{color:var(--nay);display:block}",
    ".f button{margin-top:.8rem}.pending{opacity:.85}.await{font-size:.85rem;font-weight:700;color:var(--muted);margin:0}",
    ".mine .rp{margin-left:.8rem}.sort{margin-bottom:.4rem}.check{font-weight:400}.cb{width:auto;margin-right:.3rem}",
    ".ed{color:var(--muted);font-size:.85rem}.editor button{margin:.4rem .4rem 0 0}.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}"
  ].join("");

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    for (var name in attrs || {}) {
      if (name === "text") node.textContent = attrs[name];
      else node.setAttribute(name, attrs[name]);
    }
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  function storage(key, value) {
    try {
      if (value === undefined) return localStorage.getItem(key);
      localStorage.setItem(key, value);
    } catch (e) {
      if (value === undefined) return memory[key] || null;
      memory[key] = value;
    }
  }

  function voterToken() {
    var token = storage(TOKEN_KEY);
    if (!token || !/^[A-Za-z0-9_-]{16,64}$/.test(token)) {
      var bytes = new Uint8Array(16);
      crypto.getRandomValues(bytes);
      token = Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
      storage(TOKEN_KEY, token);
    }
    return token;
  }

  function request(method, path, body, headers) {
    // "no-cache" revalidates by ETag (a cheap 304) so a reader never sees a tally older than a reload.
    var init = { method: method, headers: headers || {}, cache: "no-cache" };
    if (body) { init.body = JSON.stringify(body); init.headers["Content-Type"] = "application/json"; }
    return fetch(API + path, init).then(function (response) {
      if (response.status === 304) return { status: 304 };
      return response.json().then(function (data) {
        return { status: response.status, data: data, etag: response.headers.get("ETag"),
                 retry: response.headers.get("Retry-After") };
      }, function () { return { status: response.status, data: {} }; });
    }, unreachable);
  }

  // A fetch fails alike when the network is down and when the service answers without
  // CORS for this page's origin. A no-cors probe tells them apart: it succeeds whenever
  // the service answers at all. Resolves { status: 0, refused: true|false }.
  var warned = false;
  function unreachable() {
    return fetch(ORIGIN + "/healthz", { mode: "no-cors", cache: "no-store" }).then(function () {
      if (!warned && window.console) {
        warned = true;
        console.warn("yaynay: " + ORIGIN + " refuses requests from this page's origin, " + location.origin +
                     ". Add it to YAYNAY_ALLOWED_ORIGINS on the yaynay server.");
      }
      return { status: 0, refused: true };
    }, function () { return { status: 0, refused: false }; });
  }

  function trouble(result) {
    if (!result || result.status === 0) {
      return result && result.refused ? "The poll is not available on this page right now."
                                      : "Could not reach the poll. Check your connection and try again.";
    }
    if (result.status === 429) return "Too many tries from your network. Try again in " + (result.retry || "a few") + " seconds.";
    if (result.status === 503) return "The poll is busy right now. Try again in a moment.";
    return (result.data && result.data.message) || "Something went wrong.";
  }

  // A message saying what failed, with a Try again button that clears it and retries.
  function tellFailure(message, result, retry) {
    message.textContent = trouble(result);
    if (retry) {
      var again = el("button", { type: "button", text: "Try again" });
      again.addEventListener("click", function () { message.textContent = ""; retry(); });
      message.appendChild(document.createTextNode(" "));
      message.appendChild(again);
    }
  }

  function mount(host) {
    if (host.shadowRoot) return;
    var pollId = host.getAttribute("data-yaynay-poll");
    var threadId = host.getAttribute("data-yaynay-thread") || pollId;
    var withComments = host.getAttribute("data-yaynay-comments") !== "off";
    var root = host.attachShadow({ mode: "open" });
    var voteKey = "yaynay:vote:" + pollId;
    var etag = null, polling = null, lastVersion = -1;

    var question = el("h2", { id: "q", text: "YAY or NAY?" });
    var buttons = { yay: el("button", { type: "button", "class": "yay", "aria-pressed": "false", text: "YAY" }),
                    nay: el("button", { type: "button", "class": "nay", "aria-pressed": "false", text: "NAY" }) };
    var rows = {};
    ["yay", "nay"].forEach(function (side) {
      rows[side] = { fill: el("div", { "class": "fill" }), n: el("span", { "class": "n", text: "0% · 0" }) };
      rows[side].row = el("div", { "class": "r " + side }, [el("span", { text: side.toUpperCase() }),
        el("div", { "class": "bar", "aria-hidden": "true" }, [rows[side].fill]), rows[side].n]);
    });
    var total = el("p", { "class": "m total" });
    var message = el("p", { "class": "msg", role: "alert" });
    var announcer = el("p", { "class": "sr", "aria-live": "polite" });
    var panel = el("section", { "class": "w", "aria-labelledby": "q" }, [question,
      el("div", { "class": "b", role: "group", "aria-label": "Your vote" }, [buttons.yay, buttons.nay]),
      rows.yay.row, rows.nay.row, total, message, announcer]);
    if (root.adoptedStyleSheets && window.CSSStyleSheet && CSSStyleSheet.prototype.replaceSync) {
      var sheet = new CSSStyleSheet();  // not an inline <style>, so a strict host CSP allows it
      sheet.replaceSync(CSS);
      root.adoptedStyleSheets = [sheet];
    } else {
      root.appendChild(el("style", { text: CSS }));
    }
    root.appendChild(panel);

    function showTally(poll, announce) {
      if (poll.question) question.textContent = poll.question;
      ["yay", "nay"].forEach(function (side) {
        rows[side].fill.style.width = poll.percent[side] + "%";
        rows[side].n.textContent = poll.percent[side] + "% · " + poll.tally[side];
      });
      var mine = storage(voteKey);
      var votes = poll.tally.total + (poll.tally.total === 1 ? " vote" : " votes");
      total.textContent = votes +
        (mine ? " · You voted " + mine.toUpperCase() + " (you can change it)" : "");
      ["yay", "nay"].forEach(function (side) {
        buttons[side].setAttribute("aria-pressed", String(mine === side));
        // Marked by text as well as colour, so the choice reads without seeing colours.
        buttons[side].textContent = side.toUpperCase() + (mine === side ? " \u2713 your vote" : "");
      });
      if (announce) {
        announcer.textContent = "YAY " + poll.percent.yay + "%, NAY " + poll.percent.nay + "%, " + votes;
      }
    }

    var failure = function (result, retry) { tellFailure(message, result, retry); };

    function load() {
      return request("GET", "/polls/" + encodeURIComponent(pollId), null, etag ? { "If-None-Match": etag } : {})
        .then(function (result) {
          if (result.status === 304) return;
          if (result.status !== 200) return failure(result, load);
          etag = result.etag;
          if (result.data.state === "closed") { buttons.yay.disabled = buttons.nay.disabled = true; }
          showTally(result.data, lastVersion >= 0);
        }, function () { failure(null, load); });
    }

    function vote(choice) {
      message.textContent = "";
      request("POST", "/polls/" + encodeURIComponent(pollId) + "/votes", { choice: choice, voter: voterToken() })
        .then(function (result) {
          if (result.status !== 200) return failure(result, function () { vote(choice); });
          storage(voteKey, choice);
          showTally(result.data, true);
        }, function () { failure(null, function () { vote(choice); }); });
    }
    buttons.yay.addEventListener("click", function () { vote("yay"); });
    buttons.nay.addEventListener("click", function () { vote("nay"); });

    // While the stream is down (or never worked) the tally is polled; a stream event stops that.
    function startPolling() {
      host.setAttribute("data-yaynay-live", "polling");
      if (!polling) polling = setInterval(load, POLL_EVERY);
    }

    function listen() {
      if (!window.EventSource) return startPolling();
      var live = new EventSource(API + "/polls/" + encodeURIComponent(pollId) + "/events");
      live.addEventListener("tally", function (event) {
        if (polling) { clearInterval(polling); polling = null; }
        host.setAttribute("data-yaynay-live", "stream");
        var update = JSON.parse(event.data);
        var first = lastVersion < 0;
        lastVersion = update.version;
        showTally(update, !first);
      });
      live.onerror = startPolling;  // EventSource keeps reconnecting by itself unless CLOSED
    }

    load().then(listen);
    if (withComments) mountComments(panel, threadId);
  }

  // Links in a comment become <a> elements made with DOM methods, http(s) only; the rest stays text.
  var LINK = /\bhttps?:\/\/[^\s<>"']+/gi;
  function linked(text) {
    var nodes = [], last = 0, match;
    LINK.lastIndex = 0;
    while ((match = LINK.exec(text))) {
      var url = match[0].replace(/[.,;:!?)\]]+$/, "");
      if (match.index > last) nodes.push(document.createTextNode(text.slice(last, match.index)));
      nodes.push(el("a", { href: url, rel: "nofollow ugc noopener", text: url }));
      last = match.index + url.length;
      LINK.lastIndex = last;
    }
    if (last < text.length) nodes.push(document.createTextNode(text.slice(last)));
    return nodes;
  }

  function language() {
    return document.documentElement.lang || navigator.language || undefined;
  }

  function formatDate(iso) {
    var when = new Date(iso);
    try { return new Intl.DateTimeFormat(language(), { dateStyle: "long" }).format(when); }
    catch (e) { return when.toISOString().slice(0, 10); }
  }

  function responses(count) {
    return count === 0 ? "No responses yet" : count + (count === 1 ? " Response" : " Responses");
  }

  function readJson(key) {
    try { return JSON.parse(storage(key) || "null") || {}; } catch (e) { return {}; }
  }

  function mountComments(panel, threadId) {
    var path = "/threads/" + encodeURIComponent(threadId) + "/comments";
    // This reader's comments on the thread: id -> { token, author, body, status, at }.
    var ownKey = "yaynay:own:" + threadId, ME_KEY = "yaynay:me";
    var heading = el("h3", { text: "Responses" });
    var sortButton = el("button", { type: "button", "class": "rp sort", text: "Newest first" });
    var list = el("ol");
    var ownList = el("ol", { "class": "own" });
    var more = el("button", { type: "button", text: "Show more" });
    var listMessage = el("p", { "class": "msg", role: "status" });
    var cursor = null, rendered = {}, parentId = null, sort = "oldest";
    more.hidden = true;

    function own() { return readJson(ownKey); }
    function keepOwn(mine) { storage(ownKey, JSON.stringify(mine)); }

    function authorLine(comment) {
      var who = el("span", { "class": "who", text: comment.author });
      var site = comment.website && /^https?:\/\//i.test(comment.website) ? comment.website : null;
      if (site) who = el("a", { href: site, rel: "nofollow ugc noopener", target: "_blank" }, [who]);
      return el("p", { "class": "m" }, [who,
        comment.vote ? el("span", { "class": "t " + comment.vote, text: comment.vote.toUpperCase() }) : null,
        el("time", { datetime: comment.created_at, text: formatDate(comment.created_at) }),
        comment.edited_at ? el("span", { "class": "ed", text: " · edited" }) : null]);
    }

    // Edit (within the edit window) and Delete, on a comment this reader posted.
    function ownControls(item, comment, mine) {
      var box = el("span", { "class": "mine" });
      var text = item.querySelector(".txt");
      var open = Date.now() - mine.at < LENGTHS.edit * 1000;
      if (open) {
        var edit = el("button", { type: "button", "class": "rp", text: "Edit" });
        edit.addEventListener("click", function () {
          var area = el("textarea", { "aria-label": "Edit your comment", maxlength: String(LENGTHS.body) });
          area.value = mine.body;
          var save = el("button", { type: "button", text: "Save" });
          var note = el("span", { "class": "err" });
          var editor = el("div", { "class": "editor" }, [area, save, note]);
          item.replaceChild(editor, text);
          save.addEventListener("click", function () {
            request("PATCH", path + "/" + encodeURIComponent(comment.id), { body: area.value },
                    { "Yaynay-Edit-Token": mine.token }).then(function (result) {
              if (result.status !== 200) { note.textContent = trouble(result); return; }
              var all = own();
              if (all[comment.id]) { all[comment.id].body = area.value; all[comment.id].status = result.data.status; }
              keepOwn(all);
              reload();
            });
          });
        });
        box.appendChild(edit);
      }
      var remove = el("button", { type: "button", "class": "rp", text: "Delete" });
      remove.addEventListener("click", function () {
        if (remove.getAttribute("data-sure") !== "1") {  // a second click confirms, no modal dialog
          remove.setAttribute("data-sure", "1");
          remove.textContent = "Really delete?";
          return;
        }
        request("DELETE", path + "/" + encodeURIComponent(comment.id), null, { "Yaynay-Edit-Token": mine.token })
          .then(function (result) {
            if (result.status !== 204 && result.status !== 404) { remove.textContent = trouble(result); return; }
            var all = own();
            delete all[comment.id];
            keepOwn(all);
            reload();
          });
      });
      box.appendChild(remove);
      item.appendChild(box);
    }

    function commentItem(comment) {
      var reply = el("button", { type: "button", "class": "rp", "aria-label": "Reply to " + comment.author,
                                 text: "Reply" });
      reply.addEventListener("click", function () { replyTo(comment); });
      var item = el("li", { id: "c-" + comment.id }, [authorLine(comment),
        el("p", { "class": "txt" }, linked(comment.body)), comment.pending ? null : reply]);
      var mine = own()[comment.id];
      if (mine && mine.token) ownControls(item, comment, mine);
      return item;
    }

    // The reader's own comments that are not published (yet): shown to them alone, from localStorage.
    function showOwnPending(published) {
      ownList.textContent = "";
      var all = own();
      Object.keys(all).forEach(function (id) {
        var mine = all[id];
        if (published[id] || mine.status !== "pending") return;
        var item = commentItem({ id: id, author: mine.author, body: mine.body, website: mine.website,
                                 created_at: new Date(mine.at).toISOString(), pending: true });
        item.className = "pending";
        item.insertBefore(el("p", { "class": "await", text: "Awaiting moderation: only you can see this." }),
                          item.firstChild);
        ownList.appendChild(item);
      });
    }

    function reload() { list.textContent = ""; cursor = null; rendered = {}; loadComments(); }

    function loadComments() {
      listMessage.textContent = "";
      request("GET", path + "?limit=50&sort=" + sort + (cursor ? "&cursor=" + encodeURIComponent(cursor) : ""))
        .then(function (result) {
          if (result.status !== 200) return tellFailure(listMessage, result, loadComments);
          heading.textContent = responses(result.data.count);
          var published = {}, all = own();
          result.data.comments.forEach(function (comment) {
            published[comment.id] = true;
            if (all[comment.id]) all[comment.id].status = "approved";
            var item = commentItem(comment);
            var parent = comment.parent_id && rendered[comment.parent_id];
            if (parent) {  // a reply sits under the comment it answers
              if (!parent.replies) parent.appendChild(parent.replies = el("ol", { "class": "replies" }));
              parent.replies.appendChild(item);
            } else {
              list.appendChild(item);
            }
            rendered[comment.id] = item;
          });
          keepOwn(all);
          if (!cursor) showOwnPending(published);
          cursor = result.data.next_cursor;
          more.hidden = !cursor;
        }).catch(function () { tellFailure(listMessage, null, loadComments); });
    }
    more.addEventListener("click", loadComments);
    sortButton.addEventListener("click", function () {
      sort = sort === "oldest" ? "newest" : "oldest";
      sortButton.textContent = sort === "oldest" ? "Newest first" : "Oldest first";
      reload();
    });

    var fields = {};
    function field(name, label, input, note) {
      fields[name] = { input: input, error: el("span", { "class": "err", id: "e-" + name }) };
      input.id = "f-" + name;
      input.name = name;
      return el("div", {}, [el("label", { "for": input.id, text: label }, note ? [el("small", { text: note })] : []),
        input, fields[name].error]);
    }
    var status = el("p", { "class": "msg", role: "status" });
    var replying = el("p", { "class": "m" });
    replying.hidden = true;

    function replyTo(comment) {
      parentId = comment ? comment.id : null;
      replying.textContent = "";
      replying.hidden = !comment;
      if (!comment) return;
      var cancel = el("button", { type: "button", "class": "rp", text: "Cancel" });
      cancel.addEventListener("click", function () { replyTo(null); });
      replying.appendChild(document.createTextNode("Replying to " + comment.author + " "));
      replying.appendChild(cancel);
      fields.body.input.focus();
    }
    var send = el("button", { type: "submit", text: "Post comment" });
    var rememberEmail = el("input", { type: "checkbox", id: "f-remember", "class": "cb" });
    var form = el("form", { "class": "f", novalidate: "" }, [
      el("h3", { text: "Leave a comment" }), replying,
      field("author", "Name", el("input", { maxlength: String(LENGTHS.author), autocomplete: "name", required: "" })),
      field("email", "Email ", el("input", { type: "email", autocomplete: "email" }),
            "(optional; your email address will not be published)"),
      el("label", { "class": "check" }, [rememberEmail, document.createTextNode(" Remember my email on this device")]),
      field("website", "Website ", el("input", { type: "url", autocomplete: "url" }), "(optional)"),
      field("body", "Comment", el("textarea", { maxlength: String(LENGTHS.body), required: "" })),
      send, status]);
    var me = readJson(ME_KEY);
    fields.author.input.value = me.author || "";
    fields.website.input.value = me.website || "";
    fields.email.input.value = me.email || "";
    rememberEmail.checked = !!me.email;

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      Object.keys(fields).forEach(function (name) {
        fields[name].error.textContent = "";
        fields[name].input.removeAttribute("aria-invalid");
      });
      status.textContent = "Sending…";
      send.disabled = true;
      var body = { author: fields.author.input.value, body: fields.body.input.value, voter: voterToken() };
      if (fields.email.input.value.trim()) body.email = fields.email.input.value.trim();
      if (fields.website.input.value.trim()) body.website = fields.website.input.value.trim();
      if (parentId) body.parent_id = parentId;
      // The article, so moderators can follow a thread to it (kept once a thread; the server checks the origin).
      var page = location.href.split("#")[0];
      if (/^https?:$/.test(location.protocol) && page.length <= 2000) body.page_url = page;
      var key = form.getAttribute("data-key") || String(Date.now()) + Math.random().toString(16).slice(2);
      form.setAttribute("data-key", key);
      request("POST", path, body, { "Idempotency-Key": key }).then(function (result) {
        send.disabled = false;
        if (result.status === 202 || result.status === 201) {
          form.removeAttribute("data-key");
          // The email only when the reader asked for it: a shared computer should not show it.
          storage(ME_KEY, JSON.stringify({ author: body.author, website: body.website || "",
                                           email: rememberEmail.checked ? (body.email || "") : "" }));
          if (result.data.edit_token) {  // a retry answers none: the first answer's token is kept
            var all = own();
            all[result.data.id] = { token: result.data.edit_token, author: body.author, website: body.website || "",
                                    body: body.body, status: result.data.status, at: Date.now() };
            keepOwn(all);
          }
          fields.body.input.value = "";
          replyTo(null);
          status.textContent = result.data.status === "pending"
            ? "Thank you! Your comment awaits moderation and will appear once approved."
            : "Thank you! Your comment is published.";
          reload();
          return;
        }
        var problems = (result.data && result.data.errors && result.data.errors.json) || {};
        Object.keys(problems).forEach(function (name) {
          if (!fields[name]) return;
          fields[name].error.textContent = [].concat(problems[name]).join(" ");
          fields[name].input.setAttribute("aria-invalid", "true");
          fields[name].input.setAttribute("aria-describedby", "e-" + name);
        });
        status.textContent = Object.keys(problems).length ? "Please check the marked fields." : trouble(result);
      }, function () { send.disabled = false; status.textContent = trouble(null); });
    });

    panel.appendChild(heading);
    panel.appendChild(sortButton);
    panel.appendChild(listMessage);
    panel.appendChild(ownList);
    panel.appendChild(list);
    panel.appendChild(more);
    panel.appendChild(form);
    loadComments();
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-yaynay-poll]"), mount);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
