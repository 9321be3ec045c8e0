/* The console's spam and notification tools: the blocklist, bans (made from a queue item), each
   poll's vote integrity and the moderators' mail; for admins also the webhooks. Built on the helpers
   moderate.js exports; every value from the server is set with textContent, never as markup. */
(function () {
  "use strict";

  const {call, el, cell, button, say, failed, problem, plural, timeNode, addView} = window.yaynayConsole;
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";
  const BAN_DURATIONS = [[3600, "1 hour"], [86400, "1 day"], [604800, "1 week"], [2592000, "30 days"], [31536000, "1 year"]];

  // Run one change at a time per key (a row, a form): a second press while the first is out is dropped.
  const busy = new Set();
  async function once(key, work) {
    if (busy.has(key)) return;
    busy.add(key);
    try { await work(); } catch (error) { failed(error); } finally { busy.delete(key); }
  }

  function actions(label, ...buttons) {
    const group = el("div", "actions", null, {role: "group", "aria-label": label});
    group.append(...buttons);
    return group;
  }

  // A destructive button asks once more in its place; Cancel puts the row back as it was.
  function confirmIn(container, question, yesLabel, onYes) {
    const before = [...container.childNodes];
    const yes = button(yesLabel, {"data-confirm": "yes"}, "action-delete");
    const no = button("Cancel", {"data-confirm": "no"});
    const group = actions("Confirm", el("span", "", question), yes, no);
    container.replaceChildren(group);
    no.addEventListener("click", () => {
      container.replaceChildren(...before);
      const again = container.querySelector("button");
      if (again) again.focus();
    });
    yes.addEventListener("click", onYes);
    no.focus();
  }

  // Fill a table's body with one row per item of the answer's ``key``; false (and said) on a refusal.
  async function loadRows(path, key, body, rowOf, what) {
    const {status, data} = await call(path);
    if (status !== 200) {
      say(problem(data, "The " + what + " could not be loaded."));
      return false;
    }
    body.replaceChildren(...(data[key] || []).map(rowOf));
    return true;
  }

  function focusAfterRemoving(row, fallback) {
    const next = row.nextElementSibling || row.previousElementSibling;
    row.remove();
    ((next && next.querySelector("button")) || fallback).focus();
  }

  // -- blocklist ---------------------------------------------------------------------

  const rules = {form: $("rule-form"), kind: $("rule-kind"), value: $("rule-value"), action: $("rule-action"), body: $("rules")};

  function ruleRow(rule) {
    const tr = el("tr", "", null, {"data-rule-id": rule.id});
    const shown = rule.kind === "email" ? "(email digest) " + rule.value.slice(0, 12) : rule.value;
    const added = el("span", "", (rule.created_by ? rule.created_by + ", " : ""));
    added.append(timeNode(rule.created_at));
    tr.append(cell(rule.kind), cell(el("span", "", shown, {dir: "auto"})), cell(rule.action), cell(added),
      cell(button("Delete", {"data-rule-delete": rule.id, "aria-label": "Delete the " + rule.kind + " rule " + shown}, "action-delete")));
    return tr;
  }

  async function loadRules() {
    try {
      if (!await loadRows("/moderation/blocklist", "rules", rules.body, ruleRow, "blocklist")) return;
      say(plural(rules.body.children.length, "blocklist rule", "blocklist rules") + ".");
    } catch (error) { failed(error); }
  }

  rules.form.addEventListener("submit", (event) => {
    event.preventDefault();
    once("rule-form", async () => {
      const body = {kind: rules.kind.value, value: rules.value.value, action: rules.action.value};
      const {status, data} = await call("/moderation/blocklist", body);
      if (status !== 201) return say(problem(data, "The rule was not added.")); // the form keeps what was typed
      rules.value.value = "";
      rules.body.append(ruleRow(data));
      say("Added the " + data.kind + " rule: " + (data.action === "reject" ? "reject" : "hold") + " " +
        (data.kind === "email" ? "that email" : data.value) + ".");
    });
  });

  rules.body.addEventListener("click", (event) => {
    const pressed = event.target.closest("button[data-rule-delete]");
    if (!pressed) return;
    const row = pressed.closest("tr");
    confirmIn(pressed.parentElement, "Delete this rule?", "Yes, delete", () => once("rule:" + pressed.dataset.ruleDelete, async () => {
      const {status, data} = await call("/moderation/blocklist/" + encodeURIComponent(pressed.dataset.ruleDelete), null, "DELETE");
      if (status !== 204 && status !== 404) return say(problem(data, "The rule was not deleted."));
      focusAfterRemoving(row, $("blocklist-heading"));
      say("Deleted the rule.");
    }));
  });

  addView("blocklist", {load: loadRules, reset: () => rules.body.replaceChildren()});

  // -- bans --------------------------------------------------------------------------

  const bans = {body: $("bans"), empty: $("bans-empty"), queue: $("queue")};

  function bannedWhat(ban) {
    const parts = [];
    if (ban.ip_hash) parts.push("IP digest " + ban.ip_hash.slice(0, 12));
    if (ban.email_digest) parts.push("email");
    return parts.join(" and ");
  }

  function banRow(ban) {
    const tr = el("tr", "", null, {"data-ban-id": ban.id});
    tr.append(cell(ban.comment_id), cell(bannedWhat(ban)), cell(timeNode(ban.until)), cell(ban.created_by || "—"),
      cell(button("Revoke", {"data-ban-revoke": ban.id, "aria-label": "Revoke the ban from " + ban.comment_id}, "action-delete")));
    return tr;
  }

  async function loadBans() {
    try {
      if (!await loadRows("/moderation/bans", "bans", bans.body, banRow, "bans")) return;
      bans.empty.hidden = bans.body.children.length > 0;
      say(plural(bans.body.children.length, "ban", "bans") + " in force.");
    } catch (error) { failed(error); }
  }

  bans.body.addEventListener("click", (event) => {
    const pressed = event.target.closest("button[data-ban-revoke]");
    if (!pressed) return;
    const row = pressed.closest("tr");
    once("ban:" + pressed.dataset.banRevoke, async () => {
      const {status, data} = await call("/moderation/bans/" + encodeURIComponent(pressed.dataset.banRevoke), null, "DELETE");
      if (status !== 204 && status !== 404) return say(problem(data, "The ban was not revoked."));
      focusAfterRemoving(row, $("bans-heading"));
      bans.empty.hidden = bans.body.children.length > 0;
      say("Revoked the ban.");
    });
  });

  // The Ban… button of a queue item opens this form in the item.
  function banForm(pressed) {
    const article = pressed.closest(".queue-item");
    const commentId = pressed.dataset.ban;
    const existing = article.querySelector("form.ban-form");
    if (existing) return existing.querySelector("input").focus();
    const id = (name) => "ban-" + name + "-" + commentId;
    const form = el("form", "ban-form inline-edit", null, {"aria-label": "Ban the author of this comment"});
    const ip = el("input", "", null, {type: "checkbox", id: id("ip"), name: "ip", checked: ""});
    const email = el("input", "", null, {type: "checkbox", id: id("email"), name: "email"});
    if (pressed.dataset.hasEmail !== "true") email.disabled = true;
    const ipLabel = el("label", "inline", null, {for: ip.id});
    ipLabel.append(ip, " IP digest");
    const emailLabel = el("label", "inline", null, {for: email.id});
    emailLabel.append(email, pressed.dataset.hasEmail === "true" ? " Email" : " Email (none given)");
    const duration = el("select", "", null, {id: id("duration"), name: "duration"});
    for (const [seconds, label] of BAN_DURATIONS) {
      const option = el("option", "", label, {value: String(seconds)});
      if (seconds === 86400) option.selected = true;
      duration.append(option);
    }
    const cancel = button("Cancel", {"data-ban-cancel": ""});
    form.append(ipLabel, emailLabel, el("label", "visually-hidden", "Ban for", {for: duration.id}), duration,
      el("button", "action-delete", "Ban", {type: "submit", "data-ban-submit": ""}), cancel);
    cancel.addEventListener("click", () => { form.remove(); pressed.focus(); });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      once("ban-form:" + commentId, async () => {
        const body = {comment_id: commentId, ip: ip.checked, email: email.checked, duration: Number(duration.value)};
        const {status, data} = await call("/moderation/bans", body);
        if (status !== 201) return say(problem(data, "Nobody was banned.")); // the form stays as it was
        form.remove();
        pressed.focus();
        say("Banned the " + bannedWhat(data) + " of that comment until " + timeNode(data.until).textContent + ".");
      });
    });
    pressed.parentElement.after(form);
    ip.focus();
  }

  bans.queue.addEventListener("click", (event) => {
    const pressed = event.target.closest("button[data-ban]");
    if (pressed) banForm(pressed);
  });

  addView("bans", {load: loadBans, reset: () => bans.body.replaceChildren()});

  // -- vote integrity ----------------------------------------------------------------

  const integrity = {
    form: $("integrity-form"), poll: $("integrity-poll"), panel: $("integrity"), title: $("integrity-title"),
    newVoters: $("integrity-new"), refused: $("integrity-refused"), changes: $("integrity-changes"),
    chart: $("integrity-chart"), caption: $("integrity-chart-caption"), minutes: $("integrity-minutes"), ips: $("integrity-ips"),
  };

  function sparkline(counts) {
    const [width, height, pad] = [300, 60, 2];
    const peak = Math.max(1, ...counts);
    const step = counts.length > 1 ? (width - 2 * pad) / (counts.length - 1) : 0;
    const points = counts.map((count, index) =>
      (pad + index * step).toFixed(1) + "," + (height - pad - (count / peak) * (height - 2 * pad)).toFixed(1));
    const line = document.createElementNS(SVG, "polyline");
    line.setAttribute("points", points.join(" "));
    line.setAttribute("class", "spark");
    integrity.chart.replaceChildren(line);
  }

  function showIntegrity(report) {
    const counts = (report.votes_per_minute || []).map((minute) => minute.votes);
    const total = counts.reduce((sum, count) => sum + count, 0);
    integrity.title.textContent = "Poll " + report.poll + ", since ";
    integrity.title.append(timeNode(report.since));
    integrity.newVoters.textContent = String(report.new_voters);
    integrity.refused.textContent = report.refused_new_voters + " (" + (report.refused_share * 100).toFixed(1) + "% of new voters)";
    integrity.changes.textContent = String(report.changes);
    integrity.caption.textContent = "Votes a minute, the last 60 minutes: " + total + " in all, at most " +
      Math.max(0, ...counts) + " in one minute.";
    sparkline(counts);
    integrity.minutes.replaceChildren(...(report.votes_per_minute || []).filter((minute) => minute.votes > 0)
      .map((minute) => { const tr = el("tr"); tr.append(cell(timeNode(minute.minute)), cell(minute.votes)); return tr; }));
    integrity.ips.replaceChildren(...(report.busiest_ips || []).map((entry) => {
      const tr = el("tr");
      tr.append(cell(el("code", "", entry.ip_hash)), cell(entry.count));
      return tr;
    }));
    if (!integrity.ips.children.length) {
      const tr = el("tr");
      tr.append(el("td", "empty", "No votes in these two hours.", {colspan: "2"}));
      integrity.ips.append(tr);
    }
    integrity.panel.hidden = false;
  }

  async function loadIntegrity() {
    const poll = integrity.poll.value.trim();
    if (!poll) return;
    if (!/^[a-z0-9-]{1,64}$/.test(poll)) return say("A poll id is 1-64 lower-case letters, digits and hyphens.");
    try {
      const {status, data} = await call("/moderation/polls/" + encodeURIComponent(poll) + "/integrity");
      if (status !== 200) {
        integrity.panel.hidden = true;
        return say(problem(data, "The figures could not be loaded."));
      }
      showIntegrity(data);
      say("Vote integrity of " + poll + ": " + plural(data.new_voters, "new voter", "new voters") + ", " +
        plural(data.changes, "change", "changes") + ".");
    } catch (error) { failed(error); }
  }

  integrity.form.addEventListener("submit", (event) => {
    event.preventDefault();
    loadIntegrity();
  });

  addView("integrity", {load: loadIntegrity, reset: () => { integrity.panel.hidden = true; integrity.poll.value = ""; }});

  // -- moderators' mail --------------------------------------------------------------

  const mail = {form: $("mail-form"), address: $("mail-address"), body: $("subscribers")};

  function subscriberRow(address) {
    const tr = el("tr", "", null, {"data-address": address});
    tr.append(cell(address), cell(button("Unsubscribe", {"data-unsubscribe": address, "aria-label": "Unsubscribe " + address}, "action-delete")));
    return tr;
  }

  async function loadSubscribers() {
    try {
      if (!await loadRows("/moderation/mail", "subscribers", mail.body, (entry) => subscriberRow(entry.email), "subscribers")) return;
      say(plural(mail.body.children.length, "address", "addresses") + " subscribed.");
    } catch (error) { failed(error); }
  }

  mail.form.addEventListener("submit", (event) => {
    event.preventDefault();
    once("mail-form", async () => {
      const {status, data} = await call("/moderation/mail", {email: mail.address.value.trim()});
      if (status !== 201 && status !== 200) return say(problem(data, "The address was not subscribed."));
      mail.address.value = "";
      if (status === 201) mail.body.append(subscriberRow(data.email));
      say(status === 201 ? "Subscribed " + data.email + "." : data.email + " was already subscribed.");
    });
  });

  mail.body.addEventListener("click", (event) => {
    const pressed = event.target.closest("button[data-unsubscribe]");
    if (!pressed) return;
    const address = pressed.dataset.unsubscribe;
    once("mail:" + address, async () => {
      const {status, data} = await call("/moderation/mail/" + encodeURIComponent(address), null, "DELETE");
      if (status !== 204 && status !== 404) return say(problem(data, "The address was not unsubscribed."));
      focusAfterRemoving(pressed.closest("tr"), $("mail-heading"));
      say("Unsubscribed " + address + ".");
    });
  });

  addView("mail", {load: loadSubscribers, reset: () => mail.body.replaceChildren()});

  // -- webhooks (admin) --------------------------------------------------------------

  const hooks = {
    form: $("webhook-form"), url: $("webhook-url"), format: $("webhook-format"), private: $("webhook-private"),
    secret: $("new-secret"), secretUrl: $("new-secret-url"), secretValue: $("new-secret-value"), body: $("webhooks"),
    panel: $("deliveries-panel"), deliveriesHeading: $("deliveries-heading"), deliveries: $("deliveries"),
    deliveriesEmpty: $("deliveries-empty"),
  };
  const endpoints = new Map(); // endpoint id -> endpoint
  const eventNames = [...hooks.form.querySelectorAll('input[name="events"]')].map((box) => box.value);
  const formats = [...hooks.format.options].map((option) => [option.value, option.textContent]);

  function health(endpoint) {
    const node = el("span", endpoint.disabled ? "health bad" : endpoint.failing_since ? "health warn" : "health ok");
    if (endpoint.disabled) node.append("Disabled");
    else if (!endpoint.failing_since) node.append("Healthy");
    if (endpoint.failing_since) {
      node.append((endpoint.disabled ? ", failing since " : "Failing since "), timeNode(endpoint.failing_since));
    }
    return node;
  }

  function hookRow(endpoint) {
    const tr = el("tr", "", null, {"data-webhook-id": endpoint.id});
    const label = " " + endpoint.url;
    const group = actions("Manage the webhook" + label,
      button("Edit", {"data-hook-action": "edit", "aria-label": "Edit the webhook" + label}),
      button("Deliveries", {"data-hook-action": "deliveries", "aria-label": "Deliveries to" + label}),
      endpoint.disabled
        ? button("Enable", {"data-hook-action": "enable", "aria-label": "Enable the webhook" + label})
        : button("Disable", {"data-hook-action": "disable", "aria-label": "Disable the webhook" + label}),
      button("Delete", {"data-hook-action": "delete", "aria-label": "Delete the webhook" + label}, "action-delete"));
    tr.append(cell(endpoint.url), cell(endpoint.events.join(", ")),
      cell(endpoint.format + (endpoint.private ? ", private" : "")), cell(health(endpoint)), cell(group));
    return tr;
  }

  function putHook(endpoint, focusAction) {
    endpoints.set(endpoint.id, endpoint);
    const old = hooks.body.querySelector('tr[data-webhook-id="' + CSS.escape(endpoint.id) + '"]');
    const row = hookRow(endpoint);
    if (old) {
      if (old.nextElementSibling && old.nextElementSibling.classList.contains("edit-row")) old.nextElementSibling.remove();
      old.replaceWith(row);
    } else hooks.body.append(row);
    const target = focusAction && row.querySelector('[data-hook-action="' + focusAction + '"]');
    if (target) target.focus();
  }

  async function loadHooks() {
    try {
      const {status, data} = await call("/webhooks");
      if (status !== 200) return say(problem(data, "The webhooks could not be loaded."));
      hooks.body.replaceChildren();
      endpoints.clear();
      (data.webhooks || []).forEach((endpoint) => putHook(endpoint));
      say(plural(endpoints.size, "webhook", "webhooks") + ".");
    } catch (error) { failed(error); }
  }

  hooks.form.addEventListener("submit", (event) => {
    event.preventDefault();
    once("hook-form", async () => {
      const events = [...hooks.form.querySelectorAll('input[name="events"]:checked')].map((box) => box.value);
      const body = {url: hooks.url.value.trim(), events, format: hooks.format.value, private: hooks.private.checked};
      const {status, data} = await call("/webhooks", body);
      if (status !== 201) return say(problem(data, "The webhook was not added.")); // the form keeps what was chosen
      hooks.url.value = "";
      hooks.secretUrl.textContent = data.url;
      hooks.secretValue.textContent = data.secret;
      hooks.secret.hidden = false;
      hooks.secret.focus();
      putHook(data);
      say("Added the webhook " + data.url + "; copy its secret now.");
    });
  });

  function editHook(row, endpoint) {
    if (row.nextElementSibling && row.nextElementSibling.classList.contains("edit-row")) return;
    const form = el("form", "inline-edit", null, {"aria-label": "Edit the webhook " + endpoint.url});
    const fieldset = el("fieldset", "events");
    fieldset.append(el("legend", "", "Events"));
    for (const name of eventNames) {
      const box = el("input", "", null, {type: "checkbox", name: "events", value: name});
      box.checked = endpoint.events.includes(name);
      const label = el("label", "inline");
      label.append(box, " " + name);
      fieldset.append(label);
    }
    const selectId = "edit-format-" + endpoint.id;
    const format = el("select", "", null, {id: selectId, name: "format"});
    for (const [value, text] of formats) {
      const option = el("option", "", text, {value});
      option.selected = value === endpoint.format;
      format.append(option);
    }
    const cancel = button("Cancel", {"data-hook-action": "cancel"});
    form.append(fieldset, el("label", "", "Format", {for: selectId}), format, el("button", "", "Save", {type: "submit"}), cancel);
    const editRow = el("tr", "edit-row");
    editRow.append(el("td", "", null, {colspan: "5"}));
    editRow.firstChild.append(form);
    row.after(editRow);
    cancel.addEventListener("click", () => { editRow.remove(); row.querySelector('[data-hook-action="edit"]').focus(); });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const events = [...fieldset.querySelectorAll("input:checked")].map((box) => box.value);
      change(endpoint, {events, format: format.value}, "edit", "Saved the webhook " + endpoint.url + ".");
    });
    fieldset.querySelector("input").focus();
  }

  function change(endpoint, changes, focusAction, done) {
    return once("hook:" + endpoint.id, async () => {
      const {status, data} = await call("/webhooks/" + encodeURIComponent(endpoint.id), changes, "PATCH");
      if (status !== 200) return say(problem(data, "The webhook was not changed."));
      putHook(data, focusAction);
      say(done);
    });
  }

  function attemptRow(endpoint, attempt) {
    const tr = el("tr", "", null, {"data-delivery-id": attempt.delivery_id});
    const result = attempt.status_code !== null && attempt.status_code !== undefined
      ? String(attempt.status_code) : "no answer" + (attempt.error ? ": " + attempt.error : "");
    tr.append(cell(timeNode(attempt.attempted_at)), cell(attempt.event), cell(attempt.attempt + 1), cell(result),
      cell(attempt.latency_ms + " ms"),
      cell(button("Redeliver", {"data-redeliver": attempt.delivery_id, "data-webhook": endpoint.id,
        "aria-label": "Deliver " + attempt.event + " " + attempt.delivery_id + " again"})));
    return tr;
  }

  async function showDeliveries(endpoint) {
    const {status, data} = await call("/webhooks/" + encodeURIComponent(endpoint.id) + "/deliveries");
    if (status !== 200) return say(problem(data, "The deliveries could not be loaded."));
    hooks.deliveriesHeading.textContent = "Deliveries to " + endpoint.url;
    hooks.deliveries.replaceChildren(...(data.deliveries || []).map((attempt) => attemptRow(endpoint, attempt)));
    hooks.deliveriesEmpty.hidden = hooks.deliveries.children.length > 0;
    hooks.panel.hidden = false;
    hooks.deliveriesHeading.focus();
    say(plural(hooks.deliveries.children.length, "delivery attempt", "delivery attempts") + " to " + endpoint.url + ".");
  }

  hooks.body.addEventListener("click", (event) => {
    const pressed = event.target.closest("button[data-hook-action]");
    const row = pressed && pressed.closest("tr[data-webhook-id]");
    const endpoint = row && endpoints.get(row.dataset.webhookId);
    if (!endpoint) return;
    const action = pressed.dataset.hookAction;
    if (action === "edit") editHook(row, endpoint);
    else if (action === "deliveries") once("hook:" + endpoint.id, () => showDeliveries(endpoint));
    else if (action === "enable") change(endpoint, {disabled: false}, "disable", "Enabled the webhook " + endpoint.url + ".");
    else if (action === "disable") change(endpoint, {disabled: true}, "enable", "Disabled the webhook " + endpoint.url + ".");
    else if (action === "delete") {
      confirmIn(pressed.parentElement.parentElement, "Delete this webhook and its deliveries?", "Yes, delete", () =>
        once("hook:" + endpoint.id, async () => {
          const {status, data} = await call("/webhooks/" + encodeURIComponent(endpoint.id), null, "DELETE");
          if (status !== 204 && status !== 404) return say(problem(data, "The webhook was not deleted."));
          endpoints.delete(endpoint.id);
          if (hooks.deliveriesHeading.textContent === "Deliveries to " + endpoint.url) hooks.panel.hidden = true;
          focusAfterRemoving(row, $("webhooks-heading"));
          say("Deleted the webhook " + endpoint.url + ".");
        }));
    }
  });

  hooks.deliveries.addEventListener("click", (event) => {
    const pressed = event.target.closest("button[data-redeliver]");
    if (!pressed) return;
    once("redeliver:" + pressed.dataset.redeliver, async () => {
      const path = "/webhooks/" + encodeURIComponent(pressed.dataset.webhook) + "/deliveries/" +
        encodeURIComponent(pressed.dataset.redeliver) + "/redeliver";
      const {status, data} = await call(path, {});
      if (status !== 202) return say(problem(data, "The message was not queued again."));
      say("Queued " + pressed.dataset.redeliver + " again.");
    });
  });

  addView("webhooks", {
    load: loadHooks,
    reset: () => {
      hooks.body.replaceChildren();
      endpoints.clear();
      hooks.secret.hidden = hooks.panel.hidden = true;
      hooks.secretValue.textContent = "";
    },
  });
}());
