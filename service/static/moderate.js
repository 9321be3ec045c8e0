/* The console: a bearer token kept for the tab; for moderators the queue (single and bulk decisions,
   with a reason), the decision log and the threads; for admins also polls and tokens. The spam and
   notification tools are views of moderate-tools.js, which uses the helpers exported at the end.
   Comment fields are hostile: every node is built with createElement and filled with textContent. */
(function () {
  "use strict";

  const TOKEN_KEY = "yaynay:moderator-token";
  const API = "/api/v1";
  const ACTIONS = [["approve", "Approve"], ["reject", "Reject"], ["spam", "Spam"], ["delete", "Delete"]];
  const RESULT = {approve: "approved", reject: "rejected", spam: "spam", delete: "deleted"};
  const DONE = {approve: "Approved", reject: "Rejected", spam: "Marked as spam", delete: "Deleted"};
  const BULK_MAX = 100;

  const $ = (id) => document.getElementById(id);
  const ui = {
    tokenForm: $("token-form"), token: $("token"), signOut: $("sign-out"), main: $("moderation"),
    filters: $("filters"), status: $("filter-status"), thread: $("filter-thread"), surge: $("surge"),
    heading: $("queue-heading"), selectAll: $("select-all"), queue: $("queue"), empty: $("empty"),
    more: $("load-more"), live: $("status"), bulk: document.querySelectorAll("button[data-bulk]"),
    reason: $("reason"), nav: $("views"), viewButtons: document.querySelectorAll("button[data-view]"),
    views: document.querySelectorAll("section.view"),
    log: $("log"), logMore: $("log-more"), threads: $("threads"), threadsMore: $("threads-more"),
    polls: $("polls"), pollsMore: $("polls-more"), pollForm: $("poll-form"), pollId: $("poll-id"),
    pollQuestion: $("poll-question"), tokens: $("tokens"), tokenFormNew: $("new-token-form"),
    tokenName: $("token-name"), tokenRole: $("token-role"), newToken: $("new-token"),
    newTokenName: $("new-token-name"), newTokenValue: $("new-token-value"),
  };
  const when = new Intl.DateTimeFormat(undefined, {dateStyle: "medium", timeStyle: "short"});
  const items = new Map(); // comment id -> {comment, article}
  let shown = {status: "pending", thread: ""};
  let cursor = null;
  let generation = 0; // bumped by every refresh and sign-out, so late answers are dropped
  const busy = new Set(); // not `disabled`: disabling the focused button would drop keyboard focus

  class Unauthorized extends Error {}

  const say = (message) => { ui.live.textContent = message; };
  const plural = (count, one, many) => count + " " + (count === 1 ? one : many);

  function el(tag, className, text, attributes) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
    return node;
  }

  function timeNode(iso) {
    const date = new Date(iso);
    return el("time", "", Number.isNaN(date.getTime()) ? iso : when.format(date), {datetime: iso});
  }

  function token() {
    try { return sessionStorage.getItem(TOKEN_KEY); } catch (error) { return null; }
  }

  let view = "queue";
  const toolViews = {}; // view name -> {load, reset}, added by moderate-tools.js
  const pages = {log: null, threads: null, polls: null}; // each list's next cursor

  function showSignedIn(signedIn) {
    ui.tokenForm.hidden = signedIn;
    ui.nav.hidden = ui.signOut.hidden = !signedIn;
    ui.views.forEach((section) => { section.hidden = !signedIn || section.dataset.viewName !== view; });
  }

  function signOut(message) {
    try { sessionStorage.removeItem(TOKEN_KEY); } catch (error) { /* nothing was kept */ }
    generation += 1;
    items.clear();
    ui.queue.replaceChildren();
    [ui.log, ui.threads, ui.polls, ui.tokens].forEach((body) => body.replaceChildren());
    Object.values(toolViews).forEach((tool) => tool.reset());
    ui.newToken.hidden = true;
    ui.newTokenValue.textContent = "";
    ui.more.hidden = ui.surge.hidden = ui.empty.hidden = true;
    document.querySelectorAll("[data-admin]").forEach((node) => { node.hidden = true; });
    view = "queue";
    showSignedIn(false);
    say(message);
    ui.token.focus();
  }

  async function call(path, body, method) {
    const headers = {Accept: "application/json", Authorization: "Bearer " + token()};
    if (body) headers["Content-Type"] = "application/json";
    const response = await fetch(API + path, {
      method: method || (body ? "POST" : "GET"), headers, cache: "no-store",
      body: body ? JSON.stringify(body) : undefined,
    });
    const data = await response.json().catch(() => ({}));
    if (response.status === 401) {
      signOut("That token was not accepted.");
      throw new Unauthorized();
    }
    return {status: response.status, data};
  }

  function failed(error) {
    if (!(error instanceof Unauthorized)) say("The server could not be reached; try again.");
  }

  // An error answer in words: its message, then each field named with its problems.
  function problem(data, fallback) {
    const messages = (value) => (typeof value === "string" ? [value]
      : Array.isArray(value) ? value.flatMap(messages) : Object.values(value || {}).flatMap(messages));
    const fields = Object.entries((data.errors && data.errors.json) || {})
      .map(([name, found]) => name + ": " + messages(found).join(" "));
    return [data.message || fallback].concat(fields).join(" ");
  }

  function standingText(comment, standing, fallback) {
    if (!standing) return fallback || "The comment by " + comment.author + " is gone.";
    return "The comment by " + comment.author + " is already " + standing.status +
      (standing.decided_by ? " by " + standing.decided_by : "") + (standing.reason ? " (" + standing.reason + ")" : "") + ".";
  }

  function signals(comment) {
    const s = comment.signals || {};
    const badges = [];
    if (s.links > 0) badges.push(plural(s.links, "link", "links"));
    if (s.same_text_before > 0) badges.push("same text ×" + s.same_text_before);
    if (s.recent_from_ip > 1) badges.push(s.recent_from_ip + " from this IP this hour"); // the count includes this one
    if (s.surge) badges.push("surge");
    if (s.held_reason) badges.push("held: " + s.held_reason); // the spam tool that held or rejected it
    if (!badges.length) return [];
    const list = el("ul", "signals", null, {"aria-label": "Signals"});
    badges.forEach((text) => list.append(el("li", "badge", text)));
    return [list];
  }

  function articleLink(url, label) {
    if (!url || !/^https?:\/\//i.test(url)) return null; // the API checks it too; never a javascript: link
    return el("a", "", label || url, {href: url, rel: "noopener noreferrer", target: "_blank"});
  }

  function parentQuote(parent) {
    const quote = el("figure", "parent");
    const caption = el("figcaption", "", "In reply to " + parent.author + (parent.status !== "approved" ? " (" + parent.status + ")" : "") + ":");
    quote.append(caption, el("blockquote", "body", parent.body, {dir: "auto"}));
    return quote;
  }

  function render(comment) {
    const headingId = "comment-" + comment.id;
    const article = el("article", "queue-item", null, {"data-comment-id": comment.id, "aria-labelledby": headingId, tabindex: "-1"});

    const head = el("header", "item-head");
    const box = el("input", "select", null, {type: "checkbox", id: "select-" + comment.id});
    const boxLabel = el("label", "inline", "Select", {for: box.id});
    boxLabel.append(el("span", "visually-hidden", " the comment by " + comment.author));
    head.append(box, boxLabel, el("h3", "author", comment.author, {id: headingId, dir: "auto"}));
    if (comment.vote === "yay" || comment.vote === "nay") {
      head.append(el("span", "tag tag-" + comment.vote, comment.vote.toUpperCase()));
    }

    const details = el("dl", "meta");
    const row = (term, value) => {
      if (value === null || value === undefined || value === "") return;
      const dd = el("dd", "", null, {dir: "auto"});
      dd.append(value);
      details.append(el("dt", "", term), dd);
    };
    row("Email", comment.email);
    row("Website", comment.website);
    const thread = el("span", "", comment.thread);
    const link = articleLink(comment.page_url, "article");
    if (link) thread.append(" (", link, ")");
    row("Thread", thread);
    row("Submitted", comment.submitted_at ? timeNode(comment.submitted_at) : null);
    row("Reply to", comment.parent_id);
    if (comment.decided_at) {
      const decided = el("span", "", comment.status + (comment.decided_by ? " by " + comment.decided_by : "") + ", ");
      decided.append(timeNode(comment.decided_at), comment.reason ? " (" + comment.reason + ")" : "");
      row("Decision", decided);
    }
    row("IP hash", comment.ip_hash ? comment.ip_hash.slice(0, 12) : null);
    row("User agent", comment.user_agent);

    const actions = el("div", "actions", null, {role: "group", "aria-label": "Decide"});
    for (const [action, label] of ACTIONS) {
      if (RESULT[action] === comment.status) continue; // approving an approved comment changes nothing
      actions.append(el("button", "action action-" + action, label,
        {type: "button", "data-action": action, "aria-label": label + " the comment by " + comment.author}));
    }
    actions.append(el("button", "action", "Ban…", {type: "button", "data-ban": comment.id,
      "data-has-email": comment.email ? "true" : "false", "aria-label": "Ban the author of the comment by " + comment.author}));
    const parent = comment.parent ? [parentQuote(comment.parent)] : [];
    article.append(head, details, ...parent, el("p", "body", comment.body, {dir: "auto"}), ...signals(comment), actions);
    return article;
  }

  function updateEmpty() {
    ui.empty.hidden = items.size > 0;
    ui.empty.textContent = "No " + shown.status + " comments" + (shown.thread ? " in " + shown.thread : "") + ".";
  }

  function remove(id) {
    const entry = items.get(id);
    if (!entry) return;
    const next = entry.article.nextElementSibling || entry.article.previousElementSibling;
    const hadFocus = entry.article.contains(document.activeElement);
    items.delete(id);
    entry.article.remove();
    if (hadFocus) (next || ui.heading).focus(); // the pressed button is gone; keep the keyboard in the list
    updateEmpty();
  }

  async function load(more) {
    if (!more) {
      shown = {status: ui.status.value, thread: ui.thread.value.trim()};
      generation += 1;
    }
    if (more && busy.has("more")) return;
    if (more) busy.add("more");
    const run = generation;
    const query = new URLSearchParams({status: shown.status});
    if (shown.thread) query.set("thread", shown.thread);
    if (more && cursor) query.set("cursor", cursor);
    ui.queue.setAttribute("aria-busy", "true");
    try {
      const {status, data} = await call("/moderation/queue?" + query);
      if (run !== generation) return;
      if (status !== 200) return say(data.message || "The queue could not be loaded.");
      if (!more) {
        items.clear();
        ui.queue.replaceChildren();
        ui.selectAll.checked = false;
        ui.heading.textContent = shown.status[0].toUpperCase() + shown.status.slice(1) + " comments" +
          (shown.thread ? " in " + shown.thread : "");
        ui.bulk.forEach((button) => { button.hidden = RESULT[button.dataset.bulk] === shown.status; });
      }
      const fresh = (data.comments || []).filter((comment) => !items.has(comment.id));
      for (const comment of fresh) {
        items.set(comment.id, {comment, article: render(comment)});
        ui.queue.append(items.get(comment.id).article);
      }
      if (more && fresh.length) items.get(fresh[0].id).article.focus(); // Load more may vanish; land on the new ones
      cursor = data.next_cursor || null;
      ui.more.hidden = !cursor;
      const surge = data.surge || {};
      ui.surge.hidden = !surge.active;
      ui.surge.textContent = surge.active ? "Surge: " + surge.this_hour + " comments this hour, above the surge level of " +
        surge.ceiling + ". Check the signals closely." : "";
      updateEmpty();
      say(more ? plural(fresh.length, "more comment", "more comments") + " loaded."
        : plural(items.size, shown.status + " comment", shown.status + " comments") + (cursor ? " shown, more to load." : "."));
    } catch (error) {
      if (run === generation) failed(error);
    } finally {
      if (more) busy.delete("more");
      if (run === generation) ui.queue.setAttribute("aria-busy", "false");
    }
  }

  function decision(comment, action) {
    const item = {action};
    const reason = ui.reason.value.trim();
    if (reason) item.reason = reason;
    if (comment.status !== "pending") item.from = comment.status; // re-deciding needs the status we saw
    return item;
  }

  async function decideOne(id, action) {
    const {comment, article} = items.get(id);
    if (busy.has(id)) return;
    busy.add(id);
    article.setAttribute("aria-busy", "true");
    try {
      const {status, data} = await call("/moderation/comments/" + encodeURIComponent(id), decision(comment, action));
      if (status === 200 || status === 409 || status === 404) remove(id);
      if (status === 200) say(DONE[action] + " comment by " + comment.author + ".");
      else if (status === 409 || status === 404) say(standingText(comment, data.standing, data.message));
      else say(data.message || "That decision was not saved.");
    } catch (error) {
      failed(error);
    } finally {
      busy.delete(id);
      article.removeAttribute("aria-busy");
    }
  }

  async function decideSelected(action) {
    const ids = [...items.keys()].filter((id) => items.get(id).article.querySelector("input.select").checked);
    if (!ids.length) return say("Select at least one comment first.");
    if (busy.has("bulk")) return;
    busy.add("bulk");
    const notes = [];
    let done = 0;
    try {
      for (let start = 0; start < ids.length; start += BULK_MAX) {
        const decisions = ids.slice(start, start + BULK_MAX).filter((id) => items.has(id))
          .map((id) => Object.assign({id}, decision(items.get(id).comment, action)));
        if (!decisions.length) continue;
        const {status, data} = await call("/moderation/decisions", {decisions});
        if (status !== 200) {
          notes.push(data.message || "Those decisions were not saved.");
          break;
        }
        for (const result of data.results || []) {
          const entry = items.get(result.id);
          if (!entry) continue;
          const error = result.error || {};
          if (result.ok || result.standing || error.code === 404) remove(result.id);
          if (result.ok) done += 1;
          else if (result.standing || error.code === 404) notes.push(standingText(entry.comment, result.standing, error.message));
          else notes.push("The comment by " + entry.comment.author + ": " + (error.message || "not saved."));
        }
      }
      ui.selectAll.checked = false;
      say([DONE[action] + " " + plural(done, "comment", "comments") + "."].concat(notes).join(" "));
    } catch (error) {
      failed(error);
    } finally {
      busy.delete("bulk");
    }
  }

  // -- the other views ---------------------------------------------------------------

  function cell(content) {
    const td = el("td");
    if (content instanceof Node) td.append(content); else if (content !== undefined && content !== null) td.textContent = String(content);
    return td;
  }

  function button(label, attributes, className) {
    return el("button", className || "", label, Object.assign({type: "button"}, attributes || {}));
  }

  function show(name, focus) {
    view = name;
    ui.viewButtons.forEach((b) => { if (b.dataset.view === name) b.setAttribute("aria-current", "page"); else b.removeAttribute("aria-current"); });
    ui.views.forEach((section) => { section.hidden = section.dataset.viewName !== name; });
    const heading = document.querySelector('section[data-view-name="' + name + '"] h2');
    if (focus && heading) heading.focus();
    if (name === "queue") load(false);
    else if (name === "log") loadLog(false);
    else if (name === "threads") loadThreads(false);
    else if (name === "polls") loadPolls(false);
    else if (name === "tokens") loadTokens();
    else if (toolViews[name]) toolViews[name].load();
  }

  async function loadLog(more) {
    const query = new URLSearchParams({limit: "50"});
    if (more && pages.log) query.set("cursor", pages.log);
    try {
      const {status, data} = await call("/moderation/log?" + query);
      if (status !== 200) return say(data.message || "The log could not be loaded.");
      if (!more) ui.log.replaceChildren();
      for (const entry of data.entries || []) {
        const tr = el("tr");
        tr.append(cell(timeNode(entry.at)), cell(entry.comment_id), cell(entry.previous + " → " + entry.action),
          cell(entry.moderator), cell(entry.reason || ""));
        ui.log.append(tr);
      }
      pages.log = data.next_cursor || null;
      ui.logMore.hidden = !pages.log;
      say(plural(ui.log.children.length, "decision", "decisions") + " shown.");
    } catch (error) { failed(error); }
  }

  async function loadThreads(more) {
    const query = new URLSearchParams({limit: "50"});
    if (more && pages.threads) query.set("cursor", pages.threads);
    try {
      const {status, data} = await call("/moderation/threads?" + query);
      if (status !== 200) return say(data.message || "The threads could not be loaded.");
      if (!more) ui.threads.replaceChildren();
      for (const thread of data.threads || []) {
        const tr = el("tr", "", null, {"data-thread-id": thread.id});
        const open = button(thread.id, {"data-queue-thread": thread.id, "aria-label": "Show the queue of " + thread.id}, "link");
        const counts = thread.counts || {};
        tr.append(cell(open), cell(counts.pending), cell(counts.approved), cell(counts.rejected), cell(counts.spam),
          cell(articleLink(thread.page_url) || "—"));
        ui.threads.append(tr);
      }
      pages.threads = data.next_cursor || null;
      ui.threadsMore.hidden = !pages.threads;
      say(plural(data.total || 0, "thread", "threads") + ".");
    } catch (error) { failed(error); }
  }

  function pollRow(poll) {
    const tr = el("tr", "", null, {"data-poll-id": poll.id});
    const actions = el("div", "actions", null, {role: "group", "aria-label": "Manage " + poll.id});
    actions.append(button("Edit", {"data-poll-action": "edit", "aria-label": "Edit the question of " + poll.id}));
    actions.append(poll.state === "open"
      ? button("Close now", {"data-poll-action": "close", "aria-label": "Close " + poll.id + " now"})
      : button("Reopen", {"data-poll-action": "reopen", "aria-label": "Reopen " + poll.id}));
    actions.append(button("Integrity", {"data-poll-action": "integrity", "aria-label": "Vote integrity of " + poll.id}));
    actions.append(button("Delete", {"data-poll-action": "delete", "aria-label": "Delete " + poll.id}, "action-delete"));
    const tally = poll.tally || {};
    tr.append(cell(poll.id), cell(el("span", "question", poll.question, {dir: "auto"})), cell(poll.state),
      cell(tally.yay), cell(tally.nay), cell(actions));
    return tr;
  }

  const polls = new Map(); // poll id -> poll

  async function loadPolls(more) {
    const query = new URLSearchParams({limit: "50"});
    if (more && pages.polls) query.set("cursor", pages.polls);
    try {
      const {status, data} = await call("/admin/polls?" + query);
      if (status !== 200) return say(data.message || "The polls could not be loaded.");
      if (!more) { ui.polls.replaceChildren(); polls.clear(); }
      for (const poll of data.polls || []) {
        polls.set(poll.id, poll);
        ui.polls.append(pollRow(poll));
      }
      pages.polls = data.next_cursor || null;
      ui.pollsMore.hidden = !pages.polls;
      say(plural(data.total || 0, "poll", "polls") + ".");
    } catch (error) { failed(error); }
  }

  function replacePoll(poll, focusAction) {
    const old = ui.polls.querySelector('tr[data-poll-id="' + CSS.escape(poll.id) + '"]');
    polls.set(poll.id, poll);
    const row = pollRow(poll);
    if (old) old.replaceWith(row); else ui.polls.prepend(row);
    const target = row.querySelector('[data-poll-action="' + focusAction + '"]') || row.querySelector("button");
    if (target) target.focus();
  }

  function editPoll(row, poll) {
    const form = el("form", "inline-edit", null, {"aria-label": "Edit the question of " + poll.id});
    const id = "edit-" + poll.id;
    const input = el("input", "", null, {id, name: "question", required: "", maxlength: "300"});
    input.value = poll.question;
    form.append(el("label", "visually-hidden", "Question of " + poll.id, {for: id}), input,
      el("button", "", "Save", {type: "submit"}), button("Cancel", {"data-poll-action": "cancel"}));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const question = input.value.trim();
      if (!question) return say("A question must not be blank.");
      try {
        const {status, data} = await call("/polls/" + encodeURIComponent(poll.id),
          {question, closes_at: poll.closes_at, allow_change: poll.allow_change}, "PUT");
        if (status !== 200) return say(data.message || "The question was not saved.");
        replacePoll(Object.assign({}, poll, data), "edit");
        say("Saved the question of " + poll.id + ".");
      } catch (error) { failed(error); }
    });
    row.children[1].replaceChildren(form);
    input.focus();
  }

  function confirmDelete(row, poll) {
    const group = el("div", "actions confirm", null, {role: "group", "aria-label": "Confirm deleting " + poll.id});
    group.append(el("span", "", "Delete " + poll.id + ", its tally and every voter record?"),
      button("Yes, delete", {"data-poll-action": "confirm-delete"}, "action-delete"),
      button("Cancel", {"data-poll-action": "cancel"}));
    row.lastElementChild.replaceChildren(group);
    group.querySelector('[data-poll-action="cancel"]').focus();
  }

  async function pollAction(row, action) {
    const poll = polls.get(row.dataset.pollId);
    if (!poll) return;
    if (action === "edit") return editPoll(row, poll);
    if (action === "delete") return confirmDelete(row, poll);
    if (action === "cancel") return replacePoll(poll, "edit");
    if (action === "integrity") {
      $("integrity-poll").value = poll.id;
      return show("integrity", true);
    }
    if (busy.has("poll:" + poll.id)) return;
    busy.add("poll:" + poll.id);
    const path = "/polls/" + encodeURIComponent(poll.id);
    try {
      if (action === "confirm-delete") {
        const {status, data} = await call(path, null, "DELETE");
        if (status !== 204 && status !== 404) return say(data.message || "The poll was not deleted.");
        polls.delete(poll.id);
        const next = row.nextElementSibling || row.previousElementSibling;
        row.remove();
        ((next && next.querySelector("button")) || $("polls-heading")).focus();
        return say("Deleted poll " + poll.id + ".");
      }
      const {status, data} = await call(path + "/" + action, {});
      if (status !== 200) return say(data.message || "The poll was not changed.");
      replacePoll(Object.assign({}, poll, data), action === "close" ? "reopen" : "close");
      say((action === "close" ? "Closed " : "Reopened ") + poll.id + ".");
    } catch (error) {
      failed(error);
    } finally {
      busy.delete("poll:" + poll.id);
    }
  }

  async function loadTokens() {
    try {
      const {status, data} = await call("/tokens");
      if (status !== 200) return say(data.message || "The tokens could not be loaded.");
      ui.tokens.replaceChildren();
      for (const holder of data.tokens || []) {
        const tr = el("tr", "", null, {"data-token-name": holder.name});
        tr.append(cell(holder.name), cell(holder.role), cell(holder.created_at ? timeNode(holder.created_at) : "—"),
          cell(button("Revoke", {"data-revoke": holder.name, "aria-label": "Revoke the token of " + holder.name}, "action-delete")));
        ui.tokens.append(tr);
      }
      say(plural(ui.tokens.children.length, "token", "tokens") + ".");
    } catch (error) { failed(error); }
  }

  async function detectRole() {
    // Only an admin may list tokens: the answer says which parts of the console apply.
    try {
      const {status} = await call("/tokens");
      document.querySelectorAll("[data-admin]").forEach((node) => { node.hidden = status !== 200; });
    } catch (error) { /* signed out, or unreachable: the queue says so */ }
  }

  ui.viewButtons.forEach((b) => b.addEventListener("click", () => show(b.dataset.view, true)));
  ui.logMore.addEventListener("click", () => loadLog(true));
  ui.threadsMore.addEventListener("click", () => loadThreads(true));
  ui.pollsMore.addEventListener("click", () => loadPolls(true));
  ui.threads.addEventListener("click", (event) => {
    const open = event.target.closest("button[data-queue-thread]");
    if (!open) return;
    ui.thread.value = open.dataset.queueThread;
    show("queue", true);
  });
  ui.polls.addEventListener("click", (event) => {
    const pressed = event.target.closest("button[data-poll-action]");
    const row = pressed && pressed.closest("tr[data-poll-id]");
    if (row) pollAction(row, pressed.dataset.pollAction);
  });
  ui.pollForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const id = ui.pollId.value.trim();
    const question = ui.pollQuestion.value.trim();
    if (!/^[a-z0-9-]{1,64}$/.test(id)) return say("A poll id is 1-64 lower-case letters, digits and hyphens.");
    if (!question) return say("Write the question.");
    try {
      const {status, data} = await call("/polls/" + encodeURIComponent(id), {question}, "PUT");
      if (status !== 201 && status !== 200) return say(data.message || "The poll was not created.");
      ui.pollId.value = ui.pollQuestion.value = "";
      replacePoll(data, "edit");
      say((status === 201 ? "Created poll " : "Updated poll ") + id + ".");
    } catch (error) { failed(error); }
  });
  ui.tokenFormNew.addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = ui.tokenName.value.trim();
    try {
      const {status, data} = await call("/tokens", {name, role: ui.tokenRole.value});
      if (status !== 201) {
        const fields = (data.errors && data.errors.json) || {};
        return say([data.message || "The token was not created."].concat(fields.name || [], fields.role || []).join(" "));
      }
      ui.tokenName.value = "";
      ui.newTokenName.textContent = data.name + " (" + data.role + ")";
      ui.newTokenValue.textContent = data.token;
      ui.newToken.hidden = false;
      ui.newToken.focus();
      await loadTokens();
      say("Created a " + data.role + " token for " + data.name + "; copy it now.");
    } catch (error) { failed(error); }
  });
  ui.tokens.addEventListener("click", async (event) => {
    const revoke = event.target.closest("button[data-revoke]");
    if (!revoke) return;
    const name = revoke.dataset.revoke;
    try {
      const {status, data} = await call("/tokens/" + encodeURIComponent(name), null, "DELETE");
      if (status !== 204 && status !== 404) return say(data.message || "The token was not revoked.");
      await loadTokens();
      $("tokens-heading").focus();
      say("Revoked the token of " + name + ".");
    } catch (error) { failed(error); }
  });

  ui.tokenForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = ui.token.value.trim();
    if (!value) return;
    if (/[^\x21-\x7e]/.test(value)) return say("That token was not accepted."); // fetch would refuse the header
    try {
      sessionStorage.setItem(TOKEN_KEY, value);
    } catch (error) {
      return say("This browser does not allow session storage, so the token cannot be kept.");
    }
    ui.token.value = "";
    view = "queue";
    showSignedIn(true);
    ui.heading.focus();
    load(false);
    detectRole();
  });
  ui.signOut.addEventListener("click", () => signOut("Signed out."));
  ui.filters.addEventListener("submit", (event) => {
    event.preventDefault();
    load(false);
  });
  ui.status.addEventListener("change", () => load(false));
  ui.more.addEventListener("click", () => load(true));
  ui.selectAll.addEventListener("change", () => {
    ui.queue.querySelectorAll("input.select").forEach((box) => { box.checked = ui.selectAll.checked; });
  });
  ui.bulk.forEach((button) => button.addEventListener("click", () => decideSelected(button.dataset.bulk)));
  ui.queue.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    const article = button && button.closest(".queue-item");
    if (article && items.has(article.dataset.commentId)) decideOne(article.dataset.commentId, button.dataset.action);
  });

  window.yaynayConsole = Object.freeze({
    call, el, cell, button, say, failed, problem, plural, timeNode,
    addView(name, tool) { toolViews[name] = tool; },
  });

  showSignedIn(Boolean(token()));
  if (token()) { load(false); detectRole(); }
}());
