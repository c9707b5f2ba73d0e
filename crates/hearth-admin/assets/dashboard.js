// Hearth operations dashboard. Polls /api/v1 every 2 s with the token kept in sessionStorage (a `#token=`
// fragment is taken once and removed from the address bar). Everything is rendered with textContent: nothing
// from the API is ever parsed as HTML.
"use strict";

const POLL_MS = 2000;
const KEY = "hearth.token";
const STATUSES = ["received", "processed", "filtered", "error", "rejected"];
let role = null;
let scope = null; // the channel whose messages are listed
let timer = null;
let nextCursor = null; // the message list's next page

function $(id) { return document.getElementById(id); }

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else if (k === "onclick") e.addEventListener("click", v);
    else e[k] = v;
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c == null ? "" : String(c)));
  return e;
}

function takeToken() {
  const m = location.hash.match(/token=([^&]+)/);
  if (m) {
    sessionStorage.setItem(KEY, decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(KEY);
}

class ApiError extends Error {
  constructor(status, body) { super((body && body.error && body.error.message) || ("HTTP " + status)); this.status = status; }
}

async function api(path, method) {
  const res = await fetch("/api/v1" + path, {
    method: method || "GET",
    headers: { "Authorization": "Bearer " + sessionStorage.getItem(KEY) },
    cache: "no-store",
  });
  const body = await res.json().catch(() => null);
  if (res.status === 401) { logout(); throw new ApiError(401, body); }
  if (!res.ok) throw new ApiError(res.status, body);
  return body;
}

function logout() {
  sessionStorage.removeItem(KEY);
  $("main").hidden = true;
  $("logout").hidden = true;
  $("login").hidden = false;
}

function age(iso) {
  if (!iso) return "never";
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 90) return Math.round(s) + " s ago";
  if (s < 5400) return Math.round(s / 60) + " min ago";
  if (s < 172800) return Math.round(s / 3600) + " h ago";
  return Math.round(s / 86400) + " d ago";
}

function num(field, value) { return el("td", { class: "num", "data-field": field }, value); }

function channelRow(c) {
  const failing = c.error_rate > 0.1 || (c.counts.error || 0) > 0;
  const state = c.paused ? ["paused", "warn"] : c.alerts > 0 ? ["alert", "bad"] : failing ? ["errors", "warn"] : ["ok", ""];
  const tr = el("tr", { "data-channel": c.name, class: c.alerts > 0 ? "alert" : failing ? "failing" : "" });
  tr.append(el("td", {}, el("button", { class: "link", onclick: () => showMessages(c.name) }, c.name)));
  tr.append(el("td", { "data-field": "state" }, el("span", { class: "badge " + state[1] }, state[0])));
  tr.append(num("total", c.total));
  for (const s of STATUSES) tr.append(num(s, c.counts[s] || 0));
  tr.append(el("td", { "data-field": "last_received", title: c.last_received_at || "" }, age(c.last_received_at)));
  tr.append(num("error_rate", (c.error_rate * 100).toFixed(1) + " %"));
  const lat = (v) => (v == null ? "–" : v.toFixed(1));
  tr.append(num("latency", lat(c.latency_p50_ms) + " / " + lat(c.latency_p99_ms)));
  const actions = el("td", {});
  if (role !== "viewer") {
    const verb = c.paused ? "resume" : "pause";
    actions.append(el("button", { type: "button", onclick: () => act("/channels/" + encodeURIComponent(c.name) + "/" + verb) }, verb));
  }
  tr.append(actions);
  return tr;
}

function destinationRow(d) {
  const stalled = d.oldest_pending_age_s != null && d.oldest_pending_age_s > 60;
  const cls = !d.connected || d.alerts > 0 ? "down" : stalled || d.dead > 0 ? "failing" : "";
  const tr = el("tr", { "data-destination": d.name, class: cls });
  tr.append(el("td", {}, d.name));
  const badge = d.connected ? ["connected", ""] : ["disconnected", "bad"];
  tr.append(el("td", { "data-field": "state", title: d.state }, el("span", { class: "badge " + badge[1] }, badge[0])));
  tr.append(num("pending", d.pending));
  tr.append(el("td", { "data-field": "oldest_pending" }, d.oldest_pending_at ? age(d.oldest_pending_at) : "–"));
  tr.append(num("dead", d.dead));
  const actions = el("td", {});
  if (role !== "viewer" && d.dead > 0) {
    actions.append(el("button", { type: "button", onclick: () => act("/destinations/" + encodeURIComponent(d.name) + "/resend-dead") }, "resend dead"));
  }
  tr.append(actions);
  return tr;
}

function nodeRow(n) {
  const tr = el("tr", { "data-node": n.id, class: n.alive ? "" : "down" });
  tr.append(el("td", {}, n.id + (n.self ? " (this node)" : "")));
  tr.append(el("td", {}, n.host));
  const badge = n.alive ? ["alive", ""] : ["expired", "bad"];
  tr.append(el("td", { "data-field": "alive" }, el("span", { class: "badge " + badge[1] }, badge[0])));
  tr.append(el("td", {}, age(n.started_at)));
  tr.append(el("td", { "data-field": "last_heartbeat" }, age(n.last_heartbeat_at)));
  tr.append(el("td", { "data-field": "leads" }, n.leads.length ? n.leads.join(", ") : "–"));
  return tr;
}

function renderAlerts(a) {
  const ul = $("alerts");
  ul.replaceChildren();
  if (a.active.length === 0) { ul.append(el("li", { class: "none" }, "none")); return; }
  for (const x of a.active) {
    ul.append(el("li", { "data-alert-kind": x.kind, "data-alert-subject": x.subject },
      el("strong", {}, x.kind.replace("_", " ")), " · " + x.scope + " " + x.subject + " · " + x.message + " · since " + age(x.raised_at)));
  }
}

async function refresh() {
  try {
    const [ch, de, al, no] = await Promise.all([api("/channels"), api("/destinations"), api("/alerts"), api("/nodes")]);
    $("nodes").tBodies[0].replaceChildren(...no.nodes.map(nodeRow));
    $("channels").tBodies[0].replaceChildren(...ch.channels.map(channelRow));
    $("destinations").tBodies[0].replaceChildren(...de.destinations.map(destinationRow));
    $("ingest").textContent = ch.ingest_paused ? "ingest paused: " + ch.ingest_paused : "";
    renderAlerts(al);
    $("status").textContent = "updated " + new Date().toLocaleTimeString();
    $("status").className = "";
    document.body.dataset.updated = String(Date.now());
    document.body.dataset.ready = "1";
  } catch (e) {
    $("status").textContent = "not updated: " + e.message;
    $("status").className = "stale";
  }
}

// Reprocess and resend change what downstream systems receive: the operator confirms each one.
async function act(path, question) {
  if (question && !confirm(question)) return;
  try { await api(path, "POST"); } catch (e) { alert(e.message); }
  refresh();
  if (!$("message-panel").hidden) showMessage($("message-id").textContent);
}

// The message search's fields: API parameter → input element (the page's address names them the same way).
const SEARCH_FIELDS = { patient: "q-patient", control_id: "q-control", status: "q-status", event: "q-event" };

async function showMessages(channel, cursor) {
  if (role === "viewer") { alert("Message lists need the operator role."); return; }
  if (channel != null) $("q-channel").value = channel;
  scope = $("q-channel").value.trim() || null;
  $("messages-panel").hidden = false;
  $("messages-scope").textContent = scope ? "channel " + scope : "";
  const q = new URLSearchParams({ limit: "50" });
  if (scope) q.set("channel", scope);
  for (const [k, id] of Object.entries(SEARCH_FIELDS)) if ($(id).value.trim()) q.set(k, $(id).value.trim());
  // datetime-local is the browser's local time; the API takes RFC 3339.
  for (const [k, id] of [["from", "q-from"], ["to", "q-to"]]) if ($(id).value) q.set(k, new Date($(id).value).toISOString());
  if (cursor) q.set("cursor", String(cursor));
  const started = performance.now();
  try {
    const r = await api("/messages?" + q.toString());
    nextCursor = r.next_cursor;
    $("q-next").hidden = nextCursor == null;
    $("messages").tBodies[0].replaceChildren(...r.messages.map((m) => el("tr", { "data-message": m.id },
      el("td", {}, el("button", { class: "link", onclick: () => showMessage(m.id) }, m.id)),
      el("td", {}, m.received_at), el("td", {}, m.channel), el("td", {}, m.event), el("td", {}, m.control_id),
      el("td", { "data-field": "status" }, m.status))));
    // Milliseconds from the search to its results drawn (docs/performance.md).
    $("messages").dataset.searchMs = String(Math.round(performance.now() - started));
  } catch (e) { alert(e.message); }
}

async function showMessage(id) {
  try {
    const r = await api("/messages/" + encodeURIComponent(id));
    const m = r.message;
    $("message-panel").hidden = false;
    $("message-id").textContent = m.id;
    const meta = $("message-meta");
    meta.replaceChildren();
    for (const k of ["channel", "status", "reason", "received_at", "event", "control_id", "sending_application", "sending_facility", "duplicates"]) {
      meta.append(el("dt", {}, k), el("dd", { "data-field": k }, m[k] == null ? "–" : m[k]));
    }
    meta.append(el("dt", {}, "patients"), el("dd", {}, r.patient_identifiers.join(", ") || "–"));
    // The trace id, a link to the trace when [tracing] trace_url is set (only an http(s) URL becomes a link).
    const trace = r.trace_id == null ? "–" : (typeof r.trace_url === "string" && /^https?:\/\//.test(r.trace_url)
      ? el("a", { href: r.trace_url, target: "_blank", rel: "noopener noreferrer" }, r.trace_id) : r.trace_id);
    meta.append(el("dt", {}, "trace"), el("dd", { "data-field": "trace_id" }, trace));
    $("message-actions").replaceChildren(el("button", { type: "button", id: "reprocess",
      onclick: () => act("/messages/" + m.id + "/reprocess", "Reprocess message " + m.id + "? Its conversion and routing run again and new deliveries are queued.") }, "reprocess"));
    $("deliveries").tBodies[0].replaceChildren(...r.deliveries.map((d) => el("tr", { "data-delivery": d.id },
      el("td", {}, d.id), el("td", {}, d.destination), el("td", {}, d.routing_key), el("td", {}, d.status),
      el("td", { class: "num" }, d.attempts),
      el("td", {}, (d.failures || []).length === 0 ? (d.last_error || "") :
        el("ol", { class: "attempts" }, ...d.failures.map((f) => el("li", { title: f.at }, "#" + f.attempt + " " + f.error)))),
      el("td", {}, d.status === "pending" ? "" : el("button", { type: "button", onclick: () => act("/deliveries/" + d.id + "/resend", "Resend delivery " + d.id + " to " + d.destination + "?") }, "resend")))));
    renderRaw($("message-raw"), r.raw, m.kind);
    markUnmapped($("message-raw"), r.report);
    $("message-bundle").textContent = r.bundle == null ? "–" : JSON.stringify(r.bundle, null, 2);
    $("message-report").textContent = r.report == null ? "–" : JSON.stringify(r.report, null, 2);
  } catch (e) { alert(e.message); }
}

// HL7 v2 one segment a line, each field and component in a span titled by its position (PID-5, PID-5.1;
// a repetition after the first as PID-3[2].1). Built with textContent only, like everything else.
function renderRaw(box, raw, kind) {
  box.replaceChildren();
  if (raw == null) { box.append(el("div", { class: "seg" }, "(pruned)")); return; }
  const lines = raw.split(/\r\n|\r|\n/).filter((l) => l.length > 0);
  if (kind !== "hl7v2" || !lines[0] || !lines[0].startsWith("MSH") || lines[0].length < 8) {
    for (const l of lines) box.append(el("div", { class: "seg" }, l));
    return;
  }
  const fs = lines[0][3], cs = lines[0][4], rs = lines[0][5];
  const seen = {};
  for (const line of lines) {
    const parts = line.split(fs);
    const name = parts[0];
    // The conversion report names a field by occurrence from the second segment of a name on: OBX(2)-5.
    const occ = seen[name] = (seen[name] || 0) + 1;
    const seg = el("div", { class: "seg", "data-segment": name, "data-occurrence": occ }, el("span", { class: "segname" }, name));
    parts.slice(1).forEach((value, i) => {
      // MSH-1 is the field separator itself: MSH's first part after the name is MSH-2.
      const n = name === "MSH" ? i + 2 : i + 1;
      const pos = name + "-" + n;
      seg.append(fs);
      const field = el("span", { class: "field", title: pos, "data-pos": pos, "data-loc": occ > 1 ? name + "(" + occ + ")-" + n : pos });
      if (name === "MSH" && n === 2) { field.append(value); seg.append(field); return; }
      value.split(rs).forEach((rep, r) => {
        if (r > 0) field.append(rs);
        const repPos = r > 0 ? pos + "[" + (r + 1) + "]" : pos;
        const comps = rep.split(cs);
        if (comps.length === 1) { field.append(el("span", { class: "comp", title: repPos + ".1", "data-pos": repPos + ".1" }, rep)); return; }
        comps.forEach((c, k) => {
          if (k > 0) field.append(cs);
          field.append(el("span", { class: "comp", title: repPos + "." + (k + 1), "data-pos": repPos + "." + (k + 1) }, c));
        });
      });
      seg.append(field);
    });
    box.append(seg);
  }
}

// The field under the pointer: its position in the readout beside the heading, the field highlighted.
function hoverRaw(ev) {
  const box = $("message-raw");
  for (const h of box.querySelectorAll(".field.hovered")) h.classList.remove("hovered");
  const target = ev.target instanceof Element ? ev.target.closest("[data-pos]") : null;
  if (!target || !box.contains(target)) { $("raw-pos").textContent = ""; return; }
  const field = target.closest(".field");
  if (field) field.classList.add("hovered");
  $("raw-pos").textContent = target.dataset.pos + (field && field.classList.contains("unmapped") ? " · not mapped" : "");
}

// Fields the conversion report lists as unmapped (PID-10, OBX(2)-5) are marked in the raw view.
function markUnmapped(box, report) {
  const locations = (report && report.unmapped) || [];
  for (const loc of locations) {
    const f = box.querySelector('.field[data-loc="' + CSS.escape(loc) + '"]');
    if (f) { f.classList.add("unmapped"); f.title = f.title + " (not mapped)"; }
  }
}

// A link may name a search or a message: /?patient=system|value, /?control_id=..., /?message=ID.
async function openFromAddress() {
  const q = new URLSearchParams(location.search);
  let search = false;
  for (const [k, id] of Object.entries(SEARCH_FIELDS)) if (q.get(k)) { $(id).value = q.get(k); search = true; }
  if (search || q.get("channel")) await showMessages(q.get("channel"));
  if (q.get("message")) await showMessage(q.get("message"));
}

async function start() {
  if (!takeToken()) { logout(); return; }
  try {
    const me = await api("/whoami");
    role = me.role;
    $("who").textContent = me.name + " (" + me.role + ")";
  } catch (e) {
    if (e.status !== 401) { $("status").textContent = e.message; $("status").className = "stale"; }
    return;
  }
  $("login").hidden = true;
  $("main").hidden = false;
  $("logout").hidden = false;
  await Promise.all([refresh(), hearthCharts.start(api)]);
  if (role !== "viewer") { $("messages-panel").hidden = false; await openFromAddress(); }
  // Milliseconds from navigation to tables and charts drawn (docs/performance.md measures it in Chromium).
  if (!document.body.dataset.loadMs) document.body.dataset.loadMs = String(Math.round(performance.now()));
  if (!timer) timer = setInterval(refresh, POLL_MS);
}

document.addEventListener("DOMContentLoaded", () => {
  $("save-token").addEventListener("click", () => {
    sessionStorage.setItem(KEY, $("token").value.trim());
    $("token").value = "";
    start();
  });
  $("logout").addEventListener("click", logout);
  $("q-go").addEventListener("click", () => showMessages());
  $("q-next").addEventListener("click", () => showMessages(undefined, nextCursor));
  $("message-raw").addEventListener("mouseover", hoverRaw);
  $("message-raw").addEventListener("mouseleave", hoverRaw);
  start();
});
