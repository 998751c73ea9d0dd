// pyflows Local Explorer: a single-page app over the Local Explorer API (no framework, no build step).
// Every piece of user data goes into the page through textContent / attribute values, never as markup.
"use strict";

const BASE = document.baseURI.replace(/[?#].*$/, "");          // …/cdn-cgi/local/explorer/
const API = new URL("api/", BASE).pathname.replace(/\/$/, ""); // …/explorer/api
const STATUSES = ["complete", "errored", "queued", "running", "paused", "waiting", "terminated"];
const FINISHED = new Set(["complete", "errored", "terminated"]);
const ID_RE = /^[a-zA-Z0-9_][a-zA-Z0-9-_]*$/;
const main = document.getElementById("main");
let page = null; // {onEvent(ev), dispose()} of the page on screen

// -- DOM helpers ---------------------------------------------------------------------------------
function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid == null || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}
const link = (path, ...kids) => h("a", { href: new URL(path, BASE).pathname, "data-nav": true }, ...kids);
const badge = (s) => h("span", { class: "badge s-" + s, "data-status": s }, s);
const json = (v) => h("pre", { class: "mono" }, v === undefined ? "" : JSON.stringify(v, null, 2));
const enc = encodeURIComponent;

function toast(text, bad) {
  const t = h("div", { class: "toast" + (bad ? " bad" : "") }, text);
  document.getElementById("toasts").append(t);
  setTimeout(() => t.remove(), bad ? 7000 : 3500);
}

function ago(iso) {
  if (!iso) return "";
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (s < 5) return "just now";
  if (s < 60) return s + "s ago";
  if (s < 3600) return Math.floor(s / 60) + "m ago";
  if (s < 86400) return Math.floor(s / 3600) + "h ago";
  return Math.floor(s / 86400) + "d ago";
}
function dur(ms) {
  if (ms == null || isNaN(ms)) return "";
  if (ms < 1000) return Math.max(0, Math.round(ms)) + "ms";
  const s = ms / 1000;
  if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + "s";
  if (s < 3600) return Math.floor(s / 60) + "m " + Math.floor(s % 60) + "s";
  return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
}

// -- API -----------------------------------------------------------------------------------------
// `request` answers the raw Response (a KV value, an R2 object); `api` the parsed JSON envelope.
// Both throw an Error carrying the API's own messages (D1's "D1_ERROR: …" included).
async function request(method, path, body, headers) {
  const init = { method, headers: { ...(headers || {}) } };
  if (method !== "GET") init.headers["X-Pyflows-Explorer"] = "1"; // a cross-site form cannot send it
  if (body !== undefined) init.body = body;
  const reply = await fetch(API + path, init);
  if (!reply.ok) throw new Error(failure(await reply.json().catch(() => null), reply));
  return reply;
}
function failure(data, reply) {
  return data && data.errors && data.errors.length ? data.errors.map((e) => e.message).join("; ") : reply.status + " " + reply.statusText;
}
async function api(method, path, body) {
  const reply = await request(method, path, body === undefined ? undefined : JSON.stringify(body),
    body === undefined ? undefined : { "Content-Type": "application/json" });
  let data = null;
  try { data = await reply.json(); } catch { /* not JSON */ }
  if (data && data.success === false) throw new Error(failure(data, reply));
  return data;
}
async function act(label, fn) {
  try { await fn(); toast(label); } catch (e) { toast(label + " failed: " + e.message, true); }
}

// -- live updates: one Server-Sent Events stream for the whole app ------------------------------
const live = document.getElementById("live");
let source = null;
function connect() {
  source = new EventSource(API + "/pyflows/events");
  let lost = false;
  source.onopen = () => {
    live.textContent = "live";
    live.className = "live on";
    if (lost && page && page.onEvent) page.onEvent({ type: "reconnected" }); // catch up after a reload
    lost = false;
  };
  source.onerror = () => { lost = true; live.textContent = "reconnecting…"; live.className = "live"; };
  source.onmessage = (m) => {
    let ev;
    try { ev = JSON.parse(m.data); } catch { return; }
    if (page && page.onEvent) page.onEvent(ev);
  };
}
function debounce(fn, ms) {
  let t = null;
  return () => { if (t === null) t = setTimeout(() => { t = null; fn(); }, ms); };
}

// -- dialogs -------------------------------------------------------------------------------------
function dialog(title, fields, submitLabel, onSubmit) {
  const err = h("div", { class: "err" });
  const inputs = {};
  const body = fields.map((f) => {
    const input = f.multiline
      ? h("textarea", { name: f.name, rows: f.rows || 5, placeholder: f.placeholder || "", class: "mono" })
      : h("input", { name: f.name, type: f.type || "text", placeholder: f.placeholder || "", class: f.mono ? "mono" : "" });
    input.value = f.value || "";
    if (f.onchange) input.addEventListener("change", () => f.onchange(input, inputs));
    inputs[f.name] = input;
    return [h("label", {}, f.label), input];
  });
  const dlg = h("dialog", { "aria-label": title });
  const submit = async (e) => {
    e.preventDefault();
    err.textContent = "";
    const values = Object.fromEntries(Object.entries(inputs).map(([k, el]) => [k, el.type === "file" ? el.files[0] : el.value]));
    try { await onSubmit(values); dlg.close(); dlg.remove(); } catch (x) { err.textContent = x.message; }
  };
  dlg.append(h("form", { method: "dialog", onsubmit: submit }, h("h2", {}, title), body, err,
    h("menu", {}, h("button", { type: "button", onclick: () => { dlg.close(); dlg.remove(); } }, "Cancel"),
      h("button", { type: "submit", class: "primary" }, submitLabel))));
  document.body.append(dlg);
  dlg.showModal();
  return dlg;
}
function parseJsonField(text, what) {
  if (!text.trim()) return undefined;
  try { return JSON.parse(text); } catch (e) { throw new Error(what + " is not valid JSON: " + e.message); }
}
function confirmDialog(title, text, label, onYes) {
  const dlg = h("dialog", { "aria-label": title }, h("h2", {}, title), h("p", {}, text),
    h("menu", {}, h("button", { type: "button", onclick: () => dlg.close() }, "Cancel"),
      h("button", { type: "button", class: "primary danger-confirm", onclick: async () => { dlg.close(); await onYes(); } }, label)));
  dlg.addEventListener("close", () => dlg.remove());
  document.body.append(dlg);
  dlg.showModal();
}
function sendEventDialog(wf, id, after) {
  dialog("Send event to " + id, [
    { name: "type", label: "Event type", placeholder: "approval", mono: true },
    { name: "payload", label: "Payload (JSON, optional)", multiline: true, placeholder: '{"approved": true}' },
  ], "Send", async (v) => {
    if (!ID_RE.test(v.type) || v.type.length > 100) throw new Error("Event type must match " + ID_RE.source + " (at most 100 characters).");
    const payload = parseJsonField(v.payload, "Payload");
    await api("POST", `/workflows/${enc(wf)}/instances/${enc(id)}/events/${enc(v.type)}`, payload === undefined ? {} : payload);
    toast("Sent event " + v.type);
    if (after) after();
  });
}

// -- instance actions (shared by the list and the instance page) ---------------------------------
function actionsFor(status) {
  const a = [];
  if (status === "running" || status === "waiting" || status === "queued") a.push("pause");
  if (status === "paused" || status === "waitingForPause") a.push("resume");
  if (!FINISHED.has(status)) a.push("terminate");
  a.push("restart");
  return a;
}
const LABEL = { pause: "Pause", resume: "Resume", terminate: "Terminate", restart: "Restart" };
function statusAction(wf, id, action, extra) {
  return api("PATCH", `/workflows/${enc(wf)}/instances/${enc(id)}/status`, { status: action, ...(extra || {}) });
}

// -- pages ---------------------------------------------------------------------------------------
function crumbs(...parts) {
  const nav = document.getElementById("crumbs");
  nav.replaceChildren(...parts.flatMap((p, i) => (i ? [" / ", p] : [p])));
}

async function workflowsPage() {
  crumbs(link("./", "Workflows"));
  document.title = "Workflows · Local Explorer";
  const body = h("tbody");
  main.replaceChildren(h("h1", {}, "Workflows"),
    h("table", { id: "workflows" }, h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Class"), h("th", {}, "Script"),
      STATUSES.map((s) => h("th", {}, s)), h("th", {}, "Total"))), body));
  const load = async () => {
    const list = (await api("GET", "/workflows")).result;
    const rows = await Promise.all(list.map(async (w) => {
      const d = (await api("GET", `/workflows/${enc(w.name)}`)).result;
      const c = d.instances || {};
      const total = Object.values(c).reduce((x, y) => x + y, 0);
      return h("tr", { "data-workflow": w.name }, h("td", {}, link(`workflows/${enc(w.name)}`, w.name)),
        h("td", { class: "mono" }, w.class_name), h("td", { class: "mono" }, w.script_name),
        STATUSES.map((s) => h("td", { "data-count": s }, c[s] || 0)), h("td", {}, total));
    }));
    body.replaceChildren(...(rows.length ? rows : [h("tr", {}, h("td", { colspan: 10, class: "muted" }, "No workflows in this Worker's config."))]));
  };
  await load();
  return { onEvent: debounce(load, 60) };
}

async function instancesPage(wf) {
  crumbs(link("./", "Workflows"), link(`workflows/${enc(wf)}`, wf));
  document.title = wf + " · Local Explorer";
  const q = { status: "", page: 1, per_page: 25, date_start: "", date_end: "", params: "" };
  const strip = h("div", { class: "strip", id: "status-strip" });
  const tbody = h("tbody");
  const pager = h("div", { class: "pager" });
  const selected = new Set();
  const statusSel = h("select", { id: "status-filter", "aria-label": "Status", onchange: () => { q.status = statusSel.value; q.page = 1; load(); } },
    h("option", { value: "" }, "All statuses"), STATUSES.concat(["waitingForPause"]).map((s) => h("option", { value: s }, s)));
  const from = h("input", { type: "datetime-local", id: "date-start", "aria-label": "Created from", onchange: () => { q.date_start = from.value ? new Date(from.value).toISOString() : ""; q.page = 1; load(); } });
  const to = h("input", { type: "datetime-local", id: "date-end", "aria-label": "Created until", onchange: () => { q.date_end = to.value ? new Date(to.value).toISOString() : ""; q.page = 1; load(); } });
  const paramsBox = h("input", { id: "params-filter", placeholder: "params contain…", "aria-label": "Params contain", onchange: () => { q.params = paramsBox.value; q.page = 1; load(); } });
  const perPage = h("select", { "aria-label": "Per page", onchange: () => { q.per_page = +perPage.value; q.page = 1; load(); } },
    [10, 25, 50, 100].map((n) => h("option", { value: n, selected: n === 25 }, n + " / page")));
  const bulk = (action) => async () => {
    const ids = [...selected];
    if (!ids.length) return toast("Select instances first", true);
    if (action === "delete") {
      await act(`Deleted ${ids.length}`, () => api("POST", `/workflows/${enc(wf)}/instances/batch/delete`, { instances: ids }));
    } else {
      let bad = 0;
      for (const id of ids) { try { await statusAction(wf, id, action); } catch { bad++; } }
      toast(`${LABEL[action]}: ${ids.length - bad} done` + (bad ? `, ${bad} refused` : ""), bad > 0);
    }
    selected.clear();
    load();
  };
  const trigger = () => dialog("Trigger " + wf, [
    { name: "id", label: "Instance ID", placeholder: "Auto-generated UUID if empty", mono: true },
    { name: "params", label: "Params (JSON)", multiline: true, placeholder: '{"key": "value"}' },
  ], "Trigger", async (v) => {
    const body = {};
    if (v.id.trim()) {
      if (!ID_RE.test(v.id.trim()) || v.id.trim().length > 100) throw new Error("Instance ID must match " + ID_RE.source + " and be at most 100 characters.");
      body.id = v.id.trim();
    }
    const params = parseJsonField(v.params, "Params");
    if (params !== undefined) body.params = params;
    const r = await api("POST", `/workflows/${enc(wf)}/instances`, body);
    toast("Created instance " + r.result.id);
  });
  const checkAll = h("input", { type: "checkbox", "aria-label": "Select all on this page", onchange: () => {
    for (const box of tbody.querySelectorAll("input[type=checkbox]")) { box.checked = checkAll.checked; box.dispatchEvent(new Event("change")); }
  } });
  const diagramBox = h("div", { class: "card", id: "diagram" }, h("span", { class: "muted" }, "Loading diagram…"));
  main.replaceChildren(
    h("h1", {}, wf),
    strip,
    h("div", { class: "toolbar" }, statusSel, from, to, paramsBox,
      h("button", { class: "primary", id: "trigger", onclick: trigger }, "Trigger"),
      h("button", { onclick: () => load() }, "Refresh"),
      h("span", { class: "muted" }, "Selected:"),
      ["pause", "resume", "terminate", "restart"].map((a) => h("button", { onclick: bulk(a), "data-bulk": a }, LABEL[a])),
      h("button", { class: "danger", onclick: () => confirmDialog("Delete selected", "Delete the selected instances and their history?", "Delete", bulk("delete")) }, "Delete"),
      h("button", { class: "danger", id: "delete-all", onclick: () => confirmDialog("Delete all instances", `Delete every instance of ${wf}? This cannot be undone.`, "Delete all",
        () => act("Deleted all instances", () => api("DELETE", `/workflows/${enc(wf)}`)).then(load)) }, "Delete all…")),
    h("table", { id: "instances" }, h("thead", {}, h("tr", {}, h("th", {}, checkAll), h("th", {}, "Status"), h("th", {}, "Created"), h("th", {}, "Instance ID"), h("th", {}, "Actions"))), tbody),
    h("div", { class: "toolbar" }, pager, perPage),
    h("h2", {}, "Diagram (from the Python source)"), diagramBox);

  const load = async () => {
    const params = new URLSearchParams({ page: q.page, per_page: q.per_page });
    if (q.status) params.set("status", q.status);
    if (q.date_start) params.set("date_start", q.date_start);
    if (q.date_end) params.set("date_end", q.date_end);
    if (q.params) params.set("params", q.params);
    const path = `/pyflows/workflows/${enc(wf)}/instances?` + params; // the API's list + params filter, one read
    let data;
    try { data = await api("GET", path); } catch (e) { tbody.replaceChildren(h("tr", {}, h("td", { colspan: 5, class: "muted" }, e.message))); return; }
    const info = data.result_info || {};
    const counts = info.status_counts || {};
    const total = Object.values(counts).reduce((x, y) => x + y, 0);
    strip.replaceChildren(...[h("div", { class: "tile" + (q.status ? "" : " sel"), onclick: () => { statusSel.value = ""; q.status = ""; q.page = 1; load(); } }, h("b", {}, total), h("span", {}, "All")),
      STATUSES.map((s) => h("div", { class: "tile" + (q.status === s ? " sel" : ""), "data-tile": s, onclick: () => { statusSel.value = s; q.status = s; q.page = 1; load(); } },
        h("b", {}, counts[s] || 0), h("span", {}, s)))].flat());
    tbody.replaceChildren(...data.result.map((r) => {
      const box = h("input", { type: "checkbox", "aria-label": "Select " + r.id, onchange: () => (box.checked ? selected.add(r.id) : selected.delete(r.id)) });
      box.checked = selected.has(r.id);
      return h("tr", { "data-id": r.id }, h("td", {}, box), h("td", {}, badge(r.status)),
        h("td", { title: r.created_on }, ago(r.created_on)),
        h("td", { class: "mono" }, link(`workflows/${enc(wf)}/${enc(r.id)}`, r.id)),
        h("td", { class: "row-actions" },
          actionsFor(r.status).map((a) => h("button", { "data-action": a, onclick: () => act(`${LABEL[a]} ${r.id}`, () => statusAction(wf, r.id, a)) }, LABEL[a])),
          !FINISHED.has(r.status) && h("button", { onclick: () => sendEventDialog(wf, r.id) }, "Send event"),
          h("button", { class: "danger", onclick: () => confirmDialog("Delete instance", `Delete ${r.id} and its history?`, "Delete",
            () => act("Deleted " + r.id, () => api("DELETE", `/workflows/${enc(wf)}/instances/${enc(r.id)}`))) }, "Delete")));
    }));
    if (!data.result.length) tbody.append(h("tr", {}, h("td", { colspan: 5, class: "muted" }, "No instances. Press Trigger to create one.")));
    const pages = info.total_pages || 1;
    pager.replaceChildren(h("button", { disabled: q.page <= 1, onclick: () => { q.page--; load(); } }, "‹ Prev"),
      h("span", { id: "page-info" }, `Page ${q.page} of ${pages} · ${info.total_count ?? data.result.length} instances`),
      h("button", { disabled: q.page >= pages, onclick: () => { q.page++; load(); } }, "Next ›"));
  };
  await load();
  loadDiagram(wf, diagramBox, null);
  const refresh = debounce(load, 60);
  return { onEvent: (ev) => { if (ev.workflow === wf || ev.type === "reconnected") refresh(); } };
}

// -- diagram -------------------------------------------------------------------------------------
async function loadDiagram(wf, box, steps) {
  try {
    const g = (await api("GET", `/pyflows/workflows/${enc(wf)}/diagram`)).result;
    box.replaceChildren(h("div", { class: "legend muted" }, steps ? [["done", "p-done"], ["running", "p-running"], ["waiting", "p-waiting"], ["failed", "p-failed"], ["not reached", "p-unreached"]].map(([s, c]) => h("span", { class: "key " + c }, s)) : "Drawn with Python's ast from " + g.class_name + ".run"),
      drawSeq(g.nodes, steps));
    box.dataset.nodes = String(box.querySelectorAll(".dg-node").length);
  } catch (e) {
    box.replaceChildren(h("span", { class: "muted" }, "No diagram: " + e.message));
  }
}
function paint(node, steps) {
  if (!steps || !node.match) return "";
  let re;
  try { re = new RegExp(node.match); } catch { return ""; }
  const kind = { StepDo: "step", StepSleep: "sleep", StepSleepUntil: "sleep", StepWaitForEvent: "waitForEvent" }[node.type];
  const mine = steps.filter((s) => s.type === kind && re.test(s.name.replace(/-\d+$/, "")));
  if (!mine.length) return "p-unreached";
  if (mine.some((s) => s.success === false || (s.error && s.finished))) return "p-failed";
  if (mine.some((s) => s.type === "step" && s.success == null && s.retry_at)) return "p-waiting";
  if (mine.some((s) => s.type === "step" && s.success == null)) return "p-running";
  if (mine.some((s) => s.type !== "step" && !s.finished)) return "p-waiting";
  return "p-done";
}
function drawSeq(nodes, steps) {
  const col = h("div", { class: "dg" });
  nodes.forEach((n, i) => {
    if (i) col.append(h("div", { class: "dg-arrow" }, "↓"));
    col.append(drawNode(n, steps));
  });
  return col;
}
function drawNode(n, steps) {
  const box = (title, ...kids) => h("div", { class: "dg-box dg-kind-" + n.type, "data-node": n.type }, h("div", { class: "dg-title" }, title), ...kids);
  const leaf = (title, sub) => h("div", { class: `dg-node dg-kind-${n.type} ${paint(n, steps)}`, "data-node": n.type, "data-name": n.name || n.label || "", title: "line " + n.line }, title, sub && h("small", {}, sub));
  switch (n.type) {
    case "StartNode": return leaf(n.label);
    case "StepDo": return leaf(n.name, [n.computed ? "computed name" : "", n.depends && n.depends.length ? "after " + n.depends.join(", ") : ""].filter(Boolean).join(" · ") || "step.do");
    case "StepSleep": return leaf("sleep " + n.name, n.duration);
    case "StepSleepUntil": return leaf("sleep_until " + n.name, n.until);
    case "StepWaitForEvent": return leaf("wait_for_event " + n.name, `type ${n.event_type} · timeout ${n.timeout}`);
    case "BreakNode": return leaf(n.label);
    case "ParallelNode": return box("parallel", h("div", { class: "dg-par" }, n.branches.map((b) => drawSeq(b, steps))));
    case "LoopNode": return box("↻ " + n.label, drawSeq(n.body, steps));
    case "FunctionCall": return box(n.name + "()", drawSeq(n.body, steps));
    case "IfNode": return box("if " + n.test, h("div", { class: "dg-par" }, box("then", drawSeq(n.then, steps)), n.else.length ? box("else", drawSeq(n.else, steps)) : null));
    case "SwitchNode": return box("match " + n.subject, h("div", { class: "dg-par" }, n.cases.map((c) => box("case " + c.pattern, drawSeq(c.body, steps)))));
    case "TryNode": return box("try", drawSeq(n.body, steps), n.handlers.map((x) => box(x.label, drawSeq(x.body, steps))), n.finally.length ? box("finally", drawSeq(n.finally, steps)) : null);
    default: return leaf(n.type);
  }
}

// -- instance page -------------------------------------------------------------------------------
async function instancePage(wf, id) {
  crumbs(link("./", "Workflows"), link(`workflows/${enc(wf)}`, wf), h("span", { class: "mono" }, id));
  document.title = id + " · " + wf;
  const head = h("div");
  const stats = h("div", { class: "card stats", id: "stats" });
  const io = h("div", { class: "grid2" });
  const errBox = h("div");
  const timeline = h("div", { class: "card gantt", id: "timeline" });
  const diagramBox = h("div", { class: "card", id: "diagram" });
  const stepsFilter = h("select", { "aria-label": "Step type", onchange: () => render() }, h("option", { value: "" }, "All steps"),
    h("option", { value: "step" }, "Do"), h("option", { value: "sleep" }, "Sleep"), h("option", { value: "waitForEvent" }, "Wait for event"));
  main.replaceChildren(head, stats, io, errBox, h("h2", {}, "Step timeline ", stepsFilter), timeline, h("h2", {}, "Diagram with this run"), diagramBox);
  let data = null;
  const open = new Set();
  let ticker = null;

  const load = async () => {
    try { data = (await api("GET", `/workflows/${enc(wf)}/instances/${enc(id)}`)).result; } catch (e) {
      head.replaceChildren(h("h1", {}, id), h("p", { class: "muted" }, e.message));
      return;
    }
    render();
    loadDiagram(wf, diagramBox, data.steps);
  };
  const doAct = (label, fn) => act(label, fn);
  function render() {
    const d = data;
    const acts = actionsFor(d.status).map((a) => h("button", { "data-action": a, onclick: () => doAct(`${LABEL[a]}`, () => statusAction(wf, id, a)) }, LABEL[a]));
    const waiting = d.steps.some((s) => (s.type !== "step" && !s.finished) || s.retry_at);
    head.replaceChildren(h("h1", {}, wf, " ", h("span", { class: "mono", id: "instance-id", title: "Click to copy", onclick: () => navigator.clipboard && navigator.clipboard.writeText(id) }, "#" + id), " ", badge(d.status)),
      h("div", { class: "toolbar" }, acts,
        h("button", { id: "wake", disabled: !(waiting && (d.status === "waiting" || d.status === "running")), title: "End the current sleep, retry delay or event wait's timeout now",
          onclick: () => doAct("Woke " + id, () => api("POST", `/pyflows/workflows/${enc(wf)}/instances/${enc(id)}/wake`)) }, "Wake now"),
        h("button", { id: "retry", disabled: !(d.status === "errored" || d.steps.some((s) => s.retry_at)), title: "Run a step waiting to retry now; restart an errored instance from its failed step",
          onclick: () => doAct("Retrying " + id, () => api("POST", `/pyflows/workflows/${enc(wf)}/instances/${enc(id)}/retry`)) }, "Retry now"),
        !FINISHED.has(d.status) && h("button", { id: "send-event", onclick: () => sendEventDialog(wf, id) }, "Send event"),
        h("button", { class: "danger", onclick: () => confirmDialog("Delete instance", `Delete ${id} and its history?`, "Delete",
          () => act("Deleted " + id, () => api("DELETE", `/workflows/${enc(wf)}/instances/${enc(id)}`)).then(() => navigate(`workflows/${enc(wf)}`))) }, "Delete")));
    const done = d.steps.filter((s) => s.success === true || (s.type !== "step" && s.finished && !s.error)).length;
    const start = Date.parse(d.start || d.queued);
    const end = d.end ? Date.parse(d.end) : Date.now();
    stats.replaceChildren(h("div", {}, h("span", { class: "label" }, "Status"), badge(d.status)), h("div", {}, h("span", {}, "Steps completed"), h("b", { id: "steps-completed" }, done)),
      h("div", {}, h("span", {}, "Duration"), h("b", {}, d.start ? dur(end - start) : "not started")), h("div", {}, h("span", {}, "Queued"), h("b", { title: d.queued }, ago(d.queued))));
    io.replaceChildren(h("div", { class: "card" }, h("h2", {}, "Input params"), json(d.params)), h("div", { class: "card" }, h("h2", {}, "Output"), json(d.output)));
    errBox.replaceChildren(d.error ? h("div", { class: "card error-card", id: "error" }, h("b", {}, d.error.name || "Error"), ": ", d.error.message) : "");
    drawTimeline(d);
    if (ticker) { clearInterval(ticker); ticker = null; }
    if (timeline.querySelector("[data-deadline]")) ticker = setInterval(tick, 1000); // only while a countdown shows
    tick();
  }
  function tick() {
    for (const el of timeline.querySelectorAll("[data-deadline]")) {
      const left = +el.dataset.deadline - Date.now();
      el.textContent = left > 0 ? "wakes in " + dur(left) : "waking…";
    }
  }
  function drawTimeline(d) {
    const filter = stepsFilter.value;
    const steps = d.steps.filter((s) => !filter || s.type === filter);
    const t0 = Date.parse(d.start || d.queued);
    let t1 = d.end ? Date.parse(d.end) : Date.now();
    for (const s of d.steps) {
      for (const t of [s.end, s.wake_at, s.retry_at]) if (t) t1 = Math.max(t1, Date.parse(t));
    }
    const span = Math.max(1, t1 - t0);
    const pos = (a, b) => `left:${(100 * (a - t0)) / span}%;width:${Math.max(0.3, (100 * (b - a)) / span)}%`;
    const bar = (cls, a, b, text, title) => { const el = h("div", { class: "bar " + cls, title: title || text }, text); el.style.cssText = pos(a, b); return el; };
    const rows = steps.map((s) => {
      const track = h("div", { class: "g-track" });
      const start = Date.parse(s.start);
      let extra = null;
      if (s.type === "step") {
        let prevEnd = null;
        (s.attempts || []).forEach((a, i) => {
          const as = Date.parse(a.start), ae = a.end ? Date.parse(a.end) : Date.now();
          if (prevEnd !== null && as > prevEnd) track.append(bar("gap", prevEnd, as, "retry", "retry delay " + dur(as - prevEnd)));
          const cls = a.success === true ? "ok" : a.success === false ? "fail" : "run";
          const t = `#${i + 1} ` + (a.error ? a.error.name + ": " + a.error.message : dur(ae - as));
          track.append(bar(cls, as, ae, "#" + (i + 1), t));
          prevEnd = ae;
        });
        if (s.retry_at && prevEnd !== null) {
          const ra = Date.parse(s.retry_at);
          track.append(bar("gap", prevEnd, ra, "retry", "next attempt at " + s.retry_at));
          extra = h("span", { class: "countdown", "data-deadline": ra });
        }
      } else {
        const wake = s.wake_at ? Date.parse(s.wake_at) : s.end ? Date.parse(s.end) : Date.now();
        const until = s.finished && s.end ? Date.parse(s.end) : wake;
        const label = s.type === "sleep" ? "sleep" : "wait " + (s.output && s.output.type ? s.output.type : "");
        track.append(bar(s.type === "sleep" ? "sleep" : "wait", start, until, label, s.type === "sleep" ? "sleep until " + (s.wake_at || s.end) : "wait for event, timeout at " + (s.wake_at || s.end)));
        if (!s.finished && s.wake_at) extra = h("span", { class: "countdown", "data-deadline": Date.parse(s.wake_at) });
      }
      const state = s.type === "step" ? (s.success === true ? "complete" : s.success === false ? "errored" : s.retry_at ? "waiting" : "running")
        : s.finished ? (s.error ? "errored" : "complete") : "waiting";
      const row = h("div", { class: "g-row", "data-step": s.name, "data-type": s.type, "data-state": state },
        h("div", { class: "g-name", onclick: () => { open.has(s.name) ? open.delete(s.name) : open.add(s.name); render(); } },
          badge(state), " ", s.type === "step" ? "" : h("small", { class: "muted" }, s.type + " "), h("span", { class: "step-name", title: s.name }, s.name)), track);
      if (extra && track.lastChild) track.lastChild.append(" · ", extra); // the countdown rides on its bar
      const out = [row];
      if (open.has(s.name)) out.push(stepDetail(d, s));
      return out;
    });
    timeline.replaceChildren(h("div", { class: "g-axis" }, h("span", {}, new Date(t0).toLocaleTimeString()), h("span", {}, dur(span)), h("span", {}, new Date(t1).toLocaleTimeString())),
      ...(rows.length ? rows.flat() : [h("p", { class: "muted" }, "No steps yet.")]));
  }
  function stepDetail(d, s) {
    const base = s.name.replace(/-(\d+)$/, "");
    const count = +(s.name.match(/-(\d+)$/) || [0, 1])[1];
    const type = s.type === "step" ? "do" : s.type;
    const restart = h("button", { "data-restart-from": s.name, onclick: () => confirmDialog("Restart from this step", `Restart ${id} from ${s.name}? Steps from here on run again.`, "Restart",
      () => act("Restarted from " + s.name, () => statusAction(wf, id, "restart", { from: { name: base, count, type } }))) }, "Restart from this step");
    const parts = [restart];
    if (s.type === "step") {
      parts.push(h("h2", {}, s.success === false ? "Error" : "Output (full)"), s.success === false && s.attempts.length ? json(s.attempts[s.attempts.length - 1].error) : json(s.output));
      parts.push(h("h2", {}, "Config"), json(s.config));
      parts.push(h("h2", {}, "Attempts"), h("table", {}, (s.attempts || []).map((a, i) => h("tr", {}, h("td", {}, "#" + (i + 1)), h("td", {}, a.success === true ? "✓" : a.success === false ? "✗" : "…"),
        h("td", {}, a.error ? a.error.name + ": " + a.error.message : ""), h("td", {}, a.end ? dur(Date.parse(a.end) - Date.parse(a.start)) : "running")))));
    } else {
      parts.push(h("h2", {}, s.type === "sleep" ? "Sleep" : "Event"), json(s.type === "sleep" ? { start: s.start, wake_at: s.wake_at, end: s.end } : s.error || s.output));
    }
    return h("div", { class: "step-detail", "data-detail": s.name }, parts);
  }
  await load();
  const refresh = debounce(load, 40);
  return {
    onEvent: (ev) => {
      if (ev.type === "reconnected" || (ev.workflow === wf && (ev.instanceId === id || ev.instanceId == null))) refresh();
    },
    dispose: () => ticker && clearInterval(ticker),
  };
}

// -- router --------------------------------------------------------------------------------------
async function route() {
  if (page && page.dispose) page.dispose();
  page = null;
  // Split before decoding: a table or workflow name may hold an encoded "/" or "%".
  const rel = location.pathname.slice(new URL(BASE).pathname.length).replace(/\/$/, "");
  const parts = rel ? rel.split("/").map((p) => decodeURIComponent(p)) : [];
  const section = ["kv", "r2", "d1"].includes(parts[0]) ? parts[0] : "workflows";
  for (const a of document.querySelectorAll("#tabs a")) a.classList.toggle("on", a.dataset.tab === section);
  main.replaceChildren(h("p", { class: "muted" }, "Loading…"));
  try {
    if (section !== "workflows") page = await (await storagePages())(parts);
    else if (parts.length === 0) page = await workflowsPage();
    else if (parts[0] === "workflows" && parts.length === 2) page = await instancesPage(parts[1]);
    else if (parts[0] === "workflows" && parts.length === 3) page = await instancePage(parts[1], parts[2]);
    else if (parts[0] === "workflows" && parts.length === 1) page = await workflowsPage();
    else main.replaceChildren(h("h1", {}, "Not found"), h("p", {}, link("./", "Back to the workflows")));
  } catch (e) {
    main.replaceChildren(h("h1", {}, "Could not load this page"), h("p", { class: "muted" }, e.message));
  }
  main.dataset.ready = "1";
  performance.mark("pyflows-ready"); // bench/explorer_bench.py: first usable render
}
// The KV, R2 and D1 pages (storage.js) load on first use: the workflow pages' first render does not wait for them.
let storageScript = null;
function storagePages() {
  storageScript = storageScript || new Promise((resolve, reject) => {
    const el = h("script", { src: new URL("static/storage.js", BASE).pathname });
    el.onload = () => resolve(storagePage); // a global function of storage.js
    el.onerror = () => { storageScript = null; reject(new Error("Could not load static/storage.js")); };
    document.head.append(el);
  });
  return storageScript;
}
function navigate(path) {
  history.pushState(null, "", new URL(path, BASE).pathname);
  main.dataset.ready = "";
  route();
}
document.addEventListener("click", (e) => {
  const a = e.target.closest && e.target.closest("a[data-nav]");
  if (!a || e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
  e.preventDefault();
  history.pushState(null, "", a.getAttribute("href"));
  main.dataset.ready = "";
  route();
});
window.addEventListener("popstate", route);
document.getElementById("tabs").replaceChildren(...[["workflows", "./", "Workflows"], ["kv", "kv", "KV"], ["r2", "r2", "R2"], ["d1", "d1", "D1"]]
  .map(([tab, path, label]) => { const a = link(path, label); a.dataset.tab = tab; return a; }));
connect();
route();
