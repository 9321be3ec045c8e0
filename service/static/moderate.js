/* The moderators' queue: a bearer token kept for the tab, the queue, single and bulk decisions.
   Comment fields are hostile: every node is built with createElement and filled with textContent. */
(function () {
  "use strict";

  const TOKEN_KEY = "yaynay:moderator-token";
  const API = "/api/v1/moderation";
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

  function showSignedIn(signedIn) {
    ui.tokenForm.hidden = signedIn;
    ui.main.hidden = ui.signOut.hidden = !signedIn;
  }

  function signOut(message) {
    try { sessionStorage.removeItem(TOKEN_KEY); } catch (error) { /* nothing was kept */ }
    generation += 1;
    items.clear();
    ui.queue.replaceChildren();
    ui.more.hidden = ui.surge.hidden = ui.empty.hidden = true;
    showSignedIn(false);
    say(message);
    ui.token.focus();
  }

  async function call(path, body) {
    const headers = {Accept: "application/json", Authorization: "Bearer " + token()};
    if (body) headers["Content-Type"] = "application/json";
    const response = await fetch(API + path, {
      method: body ? "POST" : "GET", headers, cache: "no-store", body: body ? JSON.stringify(body) : undefined,
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
    if (!badges.length) return [];
    const list = el("ul", "signals", null, {"aria-label": "Signals"});
    badges.forEach((text) => list.append(el("li", "badge", text)));
    return [list];
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
    row("Thread", comment.thread);
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
    article.append(head, details, el("p", "body", comment.body, {dir: "auto"}), ...signals(comment), actions);
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
      const {status, data} = await call("/queue?" + query);
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
    if (comment.status !== "pending") item.from = comment.status; // re-deciding needs the status we saw
    return item;
  }

  async function decideOne(id, action) {
    const {comment, article} = items.get(id);
    if (busy.has(id)) return;
    busy.add(id);
    article.setAttribute("aria-busy", "true");
    try {
      const {status, data} = await call("/comments/" + encodeURIComponent(id), decision(comment, action));
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
        const {status, data} = await call("/decisions", {decisions});
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
    showSignedIn(true);
    ui.heading.focus();
    load(false);
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

  showSignedIn(Boolean(token()));
  if (token()) load(false);
}());
