// pyflows Local Explorer: the KV, R2 and D1 pages, built only on the Local Explorer API's storage routes
// (shapes of local-explorer-openapi.json). app.js loads it on the first visit to one of them; it uses
// app.js's helpers (h, api, request, link, dialog, confirmDialog, crumbs, toast, act). User data goes in as text.
"use strict";

const PREVIEW_BYTES = 64 * 1024; // text shown of a value or object; the rest is cut with a note
const HEX_BYTES = 256; // bytes of a binary value shown as hex
const KV_KEY_MAX = 512; // Cloudflare's limits, checked before a write is sent
const KV_METADATA_MAX = 1024;
const KV_MIN_TTL = 60;

async function storagePage(parts) {
  const [section, name, sub] = parts;
  if (section === "kv") return name === undefined ? kvNamespacesPage() : kvKeysPage(name);
  if (section === "r2") return name === undefined ? r2BucketsPage() : r2ObjectsPage(name);
  if (name === undefined) return d1DatabasesPage();
  return sub === undefined ? d1DatabasePage(name) : d1TablePage(name, sub);
}

// -- shared pieces --------------------------------------------------------------------------------
function bytesText(n) {
  if (n < 1024) return n + " B";
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KiB";
  return (n / 1024 / 1024).toFixed(1) + " MiB";
}
function hexDump(bytes) {
  const lines = [];
  for (let i = 0; i < Math.min(bytes.length, HEX_BYTES); i += 16) {
    const row = [...bytes.subarray(i, Math.min(i + 16, HEX_BYTES))];
    lines.push(i.toString(16).padStart(6, "0") + "  " + row.map((b) => b.toString(16).padStart(2, "0")).join(" ").padEnd(48) +
      "  " + row.map((b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : ".")).join(""));
  }
  return lines.join("\n");
}
function base64Of(bytes) {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}
// A value's bytes as the page shows them: UTF-8 text (cut at PREVIEW_BYTES), else size + hex and base64.
function preview(bytes, id) {
  let text = null;
  try { text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(0, PREVIEW_BYTES)); } catch { /* binary */ }
  if (text !== null && !/[\u0000-\u0008\u000e-\u001f]/.test(text)) {
    return h("div", { id, "data-kind": "text" }, h("pre", { class: "mono value" }, text),
      bytes.length > PREVIEW_BYTES && h("p", { class: "muted" }, `Showing the first ${bytesText(PREVIEW_BYTES)} of ${bytesText(bytes.length)}.`));
  }
  const head = bytes.subarray(0, HEX_BYTES);
  return h("div", { id, "data-kind": "binary" }, h("p", {}, h("b", {}, "Binary"), `, ${bytes.length} bytes` + (bytes.length > HEX_BYTES ? ` (first ${HEX_BYTES} shown)` : "")),
    h("pre", { class: "mono hex" }, hexDump(head)), h("p", { class: "muted" }, "Base64: ", h("code", { class: "b64" }, base64Of(head))));
}
function when(epochSeconds) {
  if (epochSeconds == null) return "never";
  const ms = epochSeconds * 1000;
  return new Date(ms).toLocaleString() + " (in " + dur(ms - Date.now()) + ")";
}
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;
function kvList(...pairs) {
  return h("dl", { class: "kv-list" }, pairs.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}
function emptyRow(cols, text) {
  return h("tr", {}, h("td", { colspan: cols, class: "muted" }, text));
}
function listTable(id, heads, rows, empty) {
  return h("table", { id }, h("thead", {}, h("tr", {}, heads.map((x) => h("th", {}, x)))),
    h("tbody", {}, rows.length ? rows : emptyRow(heads.length, empty)));
}
// Cursor paging: the cursors of the pages seen so far make "Prev" possible on a forward-only cursor.
function cursorPager(load) {
  const state = { cursors: [""], index: 0 };
  const el = h("div", { class: "pager" });
  state.reset = () => { state.cursors = [""]; state.index = 0; };
  state.cursor = () => state.cursors[state.index];
  state.show = (next, shown) => {
    state.cursors.length = state.index + 1;
    if (next) state.cursors.push(next);
    el.replaceChildren(h("button", { "data-page": "prev", disabled: state.index === 0, onclick: () => { state.index--; load(); } }, "‹ Prev"),
      h("span", { class: "page-info" }, `Page ${state.index + 1} · ${shown}`),
      h("button", { "data-page": "next", disabled: !next, onclick: () => { state.index++; load(); } }, "Next ›"));
  };
  state.el = el;
  return state;
}
function parseObject(text, what, check) {
  const value = parseJsonField(text, what);
  if (value !== undefined && check) check(value);
  return value;
}

// -- KV -------------------------------------------------------------------------------------------
async function kvNamespacesPage() {
  crumbs(link("kv", "KV"));
  document.title = "KV · Local Explorer";
  const list = (await api("GET", "/storage/kv/namespaces")).result;
  main.replaceChildren(h("h1", {}, "KV namespaces"), listTable("kv-namespaces", ["Binding", "Namespace ID"],
    list.map((ns) => h("tr", { "data-namespace": ns.id }, h("td", {}, link(`kv/${enc(ns.id)}`, ns.title)), h("td", { class: "mono" }, ns.id))),
    "No KV namespaces: add kv_namespaces to the Worker's config."));
  return {};
}

async function kvKeysPage(nsId) {
  const all = (await api("GET", "/storage/kv/namespaces")).result;
  const ns = all.find((n) => n.id === nsId);
  if (!ns) throw new Error(`KV namespace '${nsId}' is not bound to this Worker (bound: ${all.map((n) => n.id).join(", ") || "none"}).`);
  crumbs(link("kv", "KV"), link(`kv/${enc(nsId)}`, ns.title));
  document.title = ns.title + " · KV · Local Explorer";
  const base = `/storage/kv/namespaces/${enc(nsId)}`;
  const tbody = h("tbody");
  const detail = h("div", { class: "card", id: "kv-detail" }, h("p", { class: "muted" }, "Choose a key to see its value."));
  const prefix = h("input", { id: "kv-prefix", placeholder: "Key prefix…", "aria-label": "Key prefix", class: "mono", onchange: () => { pager.reset(); load(); } });
  const perPage = h("select", { "aria-label": "Keys per page", onchange: () => { pager.reset(); load(); } },
    [10, 50, 100, 1000].map((n) => h("option", { value: n, selected: n === 50 }, n + " / page")));
  let rows = new Map(); // key name -> its list entry (expiration, metadata)
  const pager = cursorPager(() => load());

  const load = async () => {
    const q = new URLSearchParams({ limit: perPage.value });
    if (prefix.value) q.set("prefix", prefix.value);
    if (pager.cursor()) q.set("cursor", pager.cursor());
    let data;
    try { data = await api("GET", `${base}/keys?${q}`); } catch (e) { tbody.replaceChildren(emptyRow(3, e.message)); return; }
    rows = new Map(data.result.map((k) => [k.name, k]));
    tbody.replaceChildren(...(data.result.length ? data.result.map((k) => h("tr", { "data-key": k.name },
      h("td", {}, h("button", { class: "linkish mono", onclick: () => show(k.name) }, k.name)),
      h("td", {}, k.expiration ? new Date(k.expiration * 1000).toLocaleString() : ""),
      h("td", { class: "mono muted" }, k.metadata === undefined ? "" : JSON.stringify(k.metadata))))
      : [emptyRow(3, prefix.value ? `No keys start with “${prefix.value}”.` : "No keys yet. Press Put key to add one.")]));
    pager.show(data.result_info && data.result_info.cursor, plural(data.result.length, "key"));
  };
  const show = async (key) => {
    detail.replaceChildren(h("p", { class: "muted" }, "Loading " + key + "…"));
    let reply;
    try { reply = await request("GET", `${base}/values/${enc(key)}`); } catch (e) {
      detail.replaceChildren(h("h2", { class: "mono" }, key), h("p", { class: "muted" }, e.message));
      return;
    }
    const bytes = new Uint8Array(await reply.arrayBuffer());
    const shown = preview(bytes, "kv-value");
    const expiration = reply.headers.get("expiration");
    let entry = rows.get(key);
    if (!entry) { // opened from a put: its metadata comes from the list, as the API keeps it there
      const found = (await api("GET", `${base}/keys?${new URLSearchParams({ prefix: key, limit: 10 })}`)).result;
      entry = found.find((k) => k.name === key) || { name: key };
    }
    detail.replaceChildren(h("h2", { class: "mono", id: "kv-key" }, key),
      kvList(["Size", bytesText(bytes.length)], ["Expires", h("span", { id: "kv-expiration" }, when(expiration ? +expiration : null))],
        ["Metadata", entry.metadata === undefined ? h("span", { class: "muted", id: "kv-metadata" }, "none") : h("pre", { class: "mono", id: "kv-metadata" }, JSON.stringify(entry.metadata, null, 2))]),
      h("h2", {}, "Value"), shown,
      h("div", { class: "toolbar" },
        h("button", { id: "kv-edit", disabled: shown.dataset.kind !== "text" || bytes.length > PREVIEW_BYTES, title: "Edit a text value",
          onclick: () => putDialog(key, bytes, entry.metadata) }, "Edit…"),
        h("button", { class: "danger", id: "kv-delete", onclick: () => confirmDialog("Delete key", `Delete the key “${key}” from ${ns.title}?`, "Delete",
          () => act("Deleted " + key, async () => {
            await request("DELETE", `${base}/values/${enc(key)}`);
            detail.replaceChildren(h("p", { class: "muted" }, "Deleted " + key + "."));
            await load();
          })) }, "Delete")));
  };
  const putDialog = (key, bytes, metadata) => dialog(key ? "Edit " + key : "Put key", [
    { name: "key", label: "Key", value: key || prefix.value, mono: true },
    { name: "value", label: "Value (text)", multiline: true, rows: 6, value: bytes ? new TextDecoder().decode(bytes) : "" },
    { name: "metadata", label: "Metadata (JSON, optional)", multiline: true, rows: 2, value: metadata === undefined ? "" : JSON.stringify(metadata), placeholder: '{"owner": "ada"}' },
    { name: "ttl", label: `Expire after (seconds, at least ${KV_MIN_TTL}; empty: never)`, type: "number", placeholder: "3600" },
  ], "Put", async (v) => {
    const name = v.key;
    const size = new TextEncoder().encode(name).length;
    if (!name) throw new Error("Key is empty: give the key a name.");
    if (name === "." || name === "..") throw new Error(`Key “${name}” is not allowed by KV: use another name.`);
    if (size > KV_KEY_MAX) throw new Error(`Key is ${size} bytes; KV keys are at most ${KV_KEY_MAX} bytes.`);
    const meta = parseObject(v.metadata, "Metadata", (m) => {
      const n = new TextEncoder().encode(JSON.stringify(m)).length;
      if (n > KV_METADATA_MAX) throw new Error(`Metadata is ${n} bytes; KV allows at most ${KV_METADATA_MAX}.`);
    });
    const q = new URLSearchParams();
    if (v.ttl.trim()) {
      const ttl = Number(v.ttl);
      if (!Number.isInteger(ttl) || ttl < KV_MIN_TTL) throw new Error(`Expire after must be a whole number of seconds, at least ${KV_MIN_TTL}; got “${v.ttl}”.`);
      q.set("expiration_ttl", ttl);
    }
    const form = new FormData(); // the API's multipart write: a value part and a JSON metadata part
    form.append("value", new Blob([v.value]));
    if (meta !== undefined) form.append("metadata", JSON.stringify(meta));
    await request("PUT", `${base}/values/${enc(name)}` + (q.toString() ? "?" + q : ""), form);
    toast("Put " + name);
    rows.delete(name);
    await load();
    show(name);
  });
  main.replaceChildren(h("h1", {}, ns.title, " ", h("small", { class: "muted mono" }, nsId)),
    h("div", { class: "toolbar" }, prefix, h("button", { onclick: () => { pager.reset(); load(); } }, "Search"),
      h("button", { class: "primary", id: "kv-put", onclick: () => putDialog() }, "Put key"),
      h("button", { onclick: () => load() }, "Refresh")),
    h("div", { class: "split" }, h("div", {}, h("table", { id: "kv-keys" }, h("thead", {}, h("tr", {}, h("th", {}, "Key"), h("th", {}, "Expires"), h("th", {}, "Metadata"))), tbody),
      h("div", { class: "toolbar" }, pager.el, perPage)), detail));
  await load();
  return {};
}

// -- R2 -------------------------------------------------------------------------------------------
async function r2BucketsPage() {
  crumbs(link("r2", "R2"));
  document.title = "R2 · Local Explorer";
  const list = (await api("GET", "/r2/buckets")).result.buckets;
  main.replaceChildren(h("h1", {}, "R2 buckets"), listTable("r2-buckets", ["Bucket", "Created"],
    list.map((b) => h("tr", { "data-bucket": b.name }, h("td", {}, link(`r2/${enc(b.name)}`, b.name)), h("td", { title: b.creation_date }, ago(b.creation_date)))),
    "No R2 buckets: add r2_buckets to the Worker's config."));
  return {};
}

async function r2ObjectsPage(bucket) {
  await api("GET", `/r2/buckets/${enc(bucket)}`); // an unknown bucket: the API's message names the bound ones
  crumbs(link("r2", "R2"), link(`r2/${enc(bucket)}`, bucket));
  document.title = bucket + " · R2 · Local Explorer";
  const base = `/r2/buckets/${enc(bucket)}/objects`;
  const tbody = h("tbody");
  const path = h("div", { class: "r2-path mono", id: "r2-path" });
  const detail = h("div", { class: "card", id: "r2-detail" }, h("p", { class: "muted" }, "Choose an object to see its details."));
  const prefix = h("input", { id: "r2-prefix", placeholder: "Key prefix…", "aria-label": "Key prefix", class: "mono", onchange: () => go(prefix.value) });
  const folders = h("input", { type: "checkbox", id: "r2-delimit", checked: true, onchange: () => go(prefix.value) });
  const pager = cursorPager(() => load());
  const go = (p) => { prefix.value = p; pager.reset(); load(); };

  const load = async () => {
    const q = new URLSearchParams({ per_page: 100 });
    if (prefix.value) q.set("prefix", prefix.value);
    if (folders.checked) q.set("delimiter", "/");
    if (pager.cursor()) q.set("cursor", pager.cursor());
    const parts = prefix.value.split("/");
    path.replaceChildren(h("button", { class: "linkish", onclick: () => go("") }, bucket), ...parts.slice(0, -1).flatMap((p, i) =>
      [" / ", h("button", { class: "linkish", onclick: () => go(parts.slice(0, i + 1).join("/") + "/") }, p)]));
    let data;
    try { data = await api("GET", `${base}?${q}`); } catch (e) { tbody.replaceChildren(emptyRow(4, e.message)); return; }
    const info = data.result_info || {};
    const dirs = (info.delimited || []).map((d) => h("tr", { "data-prefix": d },
      h("td", {}, h("button", { class: "linkish mono folder", onclick: () => go(d) }, "▸ " + d.slice(prefix.value.length))), h("td", {}), h("td", {}), h("td", {})));
    const objects = data.result.map((o) => h("tr", { "data-key": o.key },
      h("td", {}, h("button", { class: "linkish mono", onclick: () => show(o.key) }, o.key.slice(folders.checked ? prefix.value.length : 0) || o.key)),
      h("td", { class: "nowrap" }, bytesText(o.size)), h("td", { class: "nowrap", title: o.last_modified }, ago(o.last_modified)), h("td", { class: "mono muted" }, o.etag)));
    tbody.replaceChildren(...(dirs.length + objects.length ? [...dirs, ...objects] : [emptyRow(4, prefix.value ? `Nothing under “${prefix.value}”.` : "This bucket is empty. Press Upload to add an object.")]));
    pager.show(info.cursor, plural(objects.length, "object") + (dirs.length ? ", " + plural(dirs.length, "folder") : ""));
  };
  const show = async (key) => {
    const url = `${base}/${enc(key)}`;
    detail.replaceChildren(h("p", { class: "muted" }, "Loading " + key + "…"));
    let o;
    try { o = (await (await request("GET", url, undefined, { "cf-metadata-only": "true" })).json()).result; } catch (e) {
      detail.replaceChildren(h("h2", { class: "mono" }, key), h("p", { class: "muted" }, e.message));
      return;
    }
    const content = h("div");
    const name = key.split("/").pop() || "object";
    detail.replaceChildren(h("h2", { class: "mono", id: "r2-key" }, o.key),
      kvList(["Size", h("span", { id: "r2-size" }, `${bytesText(o.size)} (${o.size} bytes)`)], ["ETag", h("code", {}, o.etag)], ["Uploaded", o.last_modified],
        ["HTTP metadata", h("pre", { class: "mono", id: "r2-http-metadata" }, JSON.stringify(o.http_metadata || {}, null, 2))],
        ["Custom metadata", h("pre", { class: "mono", id: "r2-custom-metadata" }, JSON.stringify(o.custom_metadata || {}, null, 2))]),
      h("div", { class: "toolbar" },
        h("button", { id: "r2-view", onclick: async () => {
          try { content.replaceChildren(preview(new Uint8Array(await (await request("GET", url)).arrayBuffer()), "r2-content")); } catch (e) { toast(e.message, true); }
        } }, "View content"),
        h("a", { class: "button", id: "r2-download", href: API + url, download: name }, "Download"),
        h("button", { class: "danger", id: "r2-delete", onclick: () => confirmDialog("Delete object", `Delete “${key}” from ${bucket}?`, "Delete",
          () => act("Deleted " + key, async () => {
            await request("DELETE", url);
            detail.replaceChildren(h("p", { class: "muted" }, "Deleted " + key + "."));
            await load();
          })) }, "Delete")),
      content);
  };
  const upload = () => dialog("Upload to " + bucket, [
    { name: "file", label: "File", type: "file", onchange: (input, inputs) => {
      const file = input.files[0];
      if (!file) return;
      if (!inputs.key.value || inputs.key.value === prefix.value) inputs.key.value = prefix.value + file.name;
      if (!inputs.contentType.value) inputs.contentType.value = file.type;
    } },
    { name: "key", label: "Object key", value: prefix.value, mono: true },
    { name: "contentType", label: "Content type (optional)", placeholder: "text/plain", mono: true },
    { name: "custom", label: "Custom metadata (JSON object of strings, optional)", multiline: true, rows: 2, placeholder: '{"source": "upload"}' },
  ], "Upload", async (v) => {
    if (!v.file) throw new Error("Choose a file to upload.");
    if (!v.key) throw new Error("Object key is empty: name the object.");
    const size = new TextEncoder().encode(v.key).length;
    if (size > 1024) throw new Error(`Object key is ${size} bytes; R2 keys are at most 1024 bytes.`);
    const custom = parseObject(v.custom, "Custom metadata", (m) => {
      if (m === null || typeof m !== "object" || Array.isArray(m) || Object.values(m).some((x) => typeof x !== "string")) {
        throw new Error('Custom metadata must be a JSON object of strings, like {"source": "upload"}.');
      }
    });
    const headers = {};
    if (v.contentType) headers["Content-Type"] = v.contentType;
    if (custom !== undefined) headers["cf-r2-custom-metadata"] = JSON.stringify(custom);
    await request("PUT", `${base}/${enc(v.key)}`, v.file, headers);
    toast(`Uploaded ${v.key} (${bytesText(v.file.size)})`);
    await load();
    show(v.key);
  });
  main.replaceChildren(h("h1", {}, bucket),
    h("div", { class: "toolbar" }, path),
    h("div", { class: "toolbar" }, prefix, h("button", { onclick: () => go(prefix.value) }, "Search"),
      h("label", { class: "check" }, folders, " Folders (delimiter “/”)"),
      h("button", { class: "primary", id: "r2-upload", onclick: upload }, "Upload…"),
      h("button", { onclick: () => load() }, "Refresh")),
    h("div", { class: "split" }, h("div", {}, h("table", { id: "r2-objects" }, h("thead", {}, h("tr", {}, h("th", {}, "Key"), h("th", {}, "Size"), h("th", {}, "Uploaded"), h("th", {}, "ETag"))), tbody),
      pager.el), detail));
  await load();
  return {};
}

// -- D1 -------------------------------------------------------------------------------------------
const quoteName = (name) => '"' + name.replace(/"/g, '""') + '"';
async function d1Query(dbId, sql, params) {
  return (await api("POST", `/d1/database/${enc(dbId)}/raw`, params ? { sql, params } : { sql })).result;
}
async function d1Database(dbId) {
  const all = (await api("GET", "/d1/database")).result;
  const db = all.find((d) => d.uuid === dbId);
  if (!db) throw new Error(`D1 database '${dbId}' is not bound to this Worker (bound: ${all.map((d) => d.uuid).join(", ") || "none"}).`);
  return db;
}
function cell(v) {
  if (v === null || v === undefined) return h("td", { class: "muted cell-null" }, "NULL");
  if (Array.isArray(v)) { // a BLOB: the API sends its bytes as numbers
    const bytes = Uint8Array.from(v);
    return h("td", { class: "mono", title: "BLOB" }, `BLOB ${v.length} bytes `, h("span", { class: "muted" }, [...bytes.subarray(0, 16)].map((b) => b.toString(16).padStart(2, "0")).join("") + (v.length > 16 ? "…" : "")));
  }
  return h("td", { class: typeof v === "number" ? "mono num" : "" }, typeof v === "object" ? JSON.stringify(v) : String(v));
}
function resultTable(columns, rows, attrs) {
  return h("table", { class: "sql-result", ...(attrs || {}) }, h("thead", {}, h("tr", {}, columns.map((c) => h("th", { class: "mono" }, c)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map(cell)))));
}

async function d1DatabasesPage() {
  crumbs(link("d1", "D1"));
  document.title = "D1 · Local Explorer";
  const list = (await api("GET", "/d1/database")).result;
  main.replaceChildren(h("h1", {}, "D1 databases"), listTable("d1-databases", ["Database", "Binding", "Database ID"],
    list.map((d) => h("tr", { "data-database": d.uuid }, h("td", {}, link(`d1/${enc(d.uuid)}`, d.name)), h("td", { class: "mono" }, d.binding || ""), h("td", { class: "mono" }, d.uuid))),
    "No D1 databases: add d1_databases to the Worker's config."));
  return {};
}

function sqlConsole(dbId, initial, onChange) {
  const box = h("textarea", { id: "sql", class: "mono", rows: 6, spellcheck: "false", "aria-label": "SQL", placeholder: "SELECT * FROM my_table LIMIT 10;" });
  box.value = initial || "";
  const out = h("div", { id: "sql-results" });
  const run = async () => {
    if (!box.value.trim()) { out.replaceChildren(h("div", { class: "card error-card", id: "sql-error" }, "Type a SQL statement first.")); return; }
    out.replaceChildren(h("p", { class: "muted" }, "Running…"));
    let results;
    try { results = await d1Query(dbId, box.value); } catch (e) {
      out.replaceChildren(h("div", { class: "card error-card", id: "sql-error" }, h("b", {}, "Error"), ": ", e.message));
      return;
    }
    out.replaceChildren(...results.map((r, i) => {
      const m = r.meta || {};
      const cols = (r.results && r.results.columns) || [];
      const rows = (r.results && r.results.rows) || [];
      const facts = [cols.length ? plural(rows.length, "row") : plural(m.changes || 0, "row") + " changed", `${m.rows_read ?? 0} read`, `${m.rows_written ?? 0} written`, `${(m.duration || 0).toFixed(2)} ms`];
      return h("div", { class: "sql-statement", "data-statement": i + 1 }, h("p", { class: "muted" }, `Statement ${i + 1}: ` + facts.join(" · ")),
        cols.length ? resultTable(cols, rows) : null);
    }));
    if (onChange) onChange(); // DDL reports no changes (changed_db is false), so refresh after every run
  };
  box.addEventListener("keydown", (e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); run(); } });
  return h("div", { class: "card", id: "d1-console" }, h("h2", {}, "SQL console"), box,
    h("div", { class: "toolbar" }, h("button", { class: "primary", id: "sql-run", onclick: run }, "Run"),
      h("span", { class: "muted" }, "Ctrl+Enter runs. Several statements run in one transaction, as the API's raw query does.")), out);
}

async function d1DatabasePage(dbId) {
  const db = await d1Database(dbId);
  crumbs(link("d1", "D1"), link(`d1/${enc(dbId)}`, db.name));
  document.title = db.name + " · D1 · Local Explorer";
  const tables = h("tbody");
  const loadTables = async () => {
    // What D1 shows a user: its own tables and views, not SQLite's or Cloudflare's internal ones.
    const [r] = await d1Query(dbId, "SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') AND substr(name, 1, 7) <> 'sqlite_' AND substr(name, 1, 4) <> '_cf_' ORDER BY name");
    tables.replaceChildren(...(r.results.rows.length ? r.results.rows.map(([name, type]) => h("tr", { "data-table": name },
      h("td", {}, link(`d1/${enc(dbId)}/${enc(name)}`, name)), h("td", { class: "muted" }, type)))
      : [emptyRow(2, "No tables yet. Create one in the console.")]));
  };
  main.replaceChildren(h("h1", {}, db.name, " ", h("small", { class: "muted mono" }, dbId)),
    h("div", { class: "split" }, h("div", {}, h("h2", {}, "Tables"), h("table", { id: "d1-tables" }, h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Type"))), tables)),
      sqlConsole(dbId, "", loadTables)));
  await loadTables();
  return {};
}

async function d1TablePage(dbId, table) {
  const db = await d1Database(dbId);
  crumbs(link("d1", "D1"), link(`d1/${enc(dbId)}`, db.name), h("span", { class: "mono" }, table));
  document.title = table + " · " + db.name + " · Local Explorer";
  const q = { page: 1, per_page: 50 };
  const body = h("div", { id: "d1-rows" });
  const pager = h("div", { class: "pager" });
  const load = async () => {
    let count, rows;
    try {
      [[count], [rows]] = await Promise.all([d1Query(dbId, `SELECT count(*) AS n FROM ${quoteName(table)}`),
        d1Query(dbId, `SELECT * FROM ${quoteName(table)} LIMIT ? OFFSET ?`, [q.per_page, (q.page - 1) * q.per_page])]);
    } catch (e) { body.replaceChildren(h("div", { class: "card error-card" }, e.message)); return; }
    const total = count.results.rows[0][0];
    const pages = Math.max(1, Math.ceil(total / q.per_page));
    const first = total ? (q.page - 1) * q.per_page + 1 : 0;
    body.replaceChildren(rows.results.rows.length ? resultTable(rows.results.columns, rows.results.rows, { id: "d1-table" })
      : h("p", { class: "muted" }, "This table has no rows."));
    pager.replaceChildren(h("button", { disabled: q.page <= 1, onclick: () => { q.page--; load(); } }, "‹ Prev"),
      h("span", { class: "page-info" }, `Rows ${first}–${first ? first + rows.results.rows.length - 1 : 0} of ${total} · page ${q.page} of ${pages}`),
      h("button", { "data-page": "next", disabled: q.page >= pages, onclick: () => { q.page++; load(); } }, "Next ›"));
  };
  main.replaceChildren(h("h1", {}, h("span", { class: "mono" }, table), " ", h("small", { class: "muted" }, "in " + db.name)),
    h("div", { class: "toolbar" }, pager, h("button", { onclick: () => load() }, "Refresh")), body,
    sqlConsole(dbId, `SELECT * FROM ${quoteName(table)} LIMIT 100;`, load));
  await load();
  return {};
}
