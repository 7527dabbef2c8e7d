// The weir console: polls the member's JSON API and renders it. No build
// step and no libraries.
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = { job: null, prevMaps: null, prevJob: null, internal: false };

// The token comes from the URL fragment (#token=...), or was typed.
(function initToken() {
  const m = location.hash.match(/token=([^&]+)/);
  if (m) {
    sessionStorage.setItem("weir-token", decodeURIComponent(m[1]));
  }
  $("#token").value = sessionStorage.getItem("weir-token") || "";
  $("#token").addEventListener("change", (e) => sessionStorage.setItem("weir-token", e.target.value));
  $("#show-internal").addEventListener("change", (e) => { state.internal = e.target.checked; });
})();

function headers() {
  const t = $("#token").value;
  return t ? { Authorization: "Bearer " + t } : {};
}

async function api(path, opts = {}) {
  const resp = await fetch("api/v1/" + path, { ...opts, headers: headers() });
  const body = resp.status === 204 ? null : await resp.json();
  if (!resp.ok) throw new Error(body && body.error ? body.error : resp.statusText);
  return body;
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function svg(tag, attrs = {}, text) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

function rate(n) {
  if (n >= 1e6) return (n / 1e6).toFixed(1) + "M";
  if (n >= 1e3) return (n / 1e3).toFixed(1) + "k";
  return n.toFixed(n < 10 ? 1 : 0);
}

function renderCluster(c) {
  $("#cluster-name").textContent = "cluster " + c.name + " · " + c.version;
  $("#summary").textContent = `${c.members.length} members · ${c.partitions} partitions · table v${c.tableVersion} · ${c.migrationsPending} migrations in flight`;
  const body = $("#members tbody");
  body.replaceChildren(...c.members.map((m) => {
    const name = el("td", {}, m.name);
    if (m.coordinator) name.append(el("span", { class: "badge coordinator" }, "coordinator"));
    if (m.lite) name.append(el("span", { class: "badge" }, "lite"));
    return el("tr", { class: "member", "data-member": m.id }, name, el("td", {}, m.id), el("td", {}, m.gossip),
      el("td", {}, m.transport), el("td", {}, m.owned), el("td", {}, m.backups), el("td", {}, m.migrationsPending),
      el("td", {}, m.error ? "unreachable" : m.gossipHealth === 0 ? "ok" : "score " + m.gossipHealth));
  }));
}

function renderMaps(maps, now) {
  const prev = state.prevMaps;
  state.prevMaps = { at: now, ops: Object.fromEntries(maps.map((m) => [m.name, Object.values(m.operations).reduce((a, b) => a + b, 0)])) };
  const body = $("#maps tbody");
  body.replaceChildren(...maps.filter((m) => state.internal || !m.internal).map((m) => {
    const total = state.prevMaps.ops[m.name];
    const r = prev && prev.ops[m.name] !== undefined ? (total - prev.ops[m.name]) / ((now - prev.at) / 1000) : 0;
    const per = Object.entries(m.entriesByMember).map(([k, v]) => `${k}: ${v}`).join(", ");
    return el("tr", { class: "map", "data-map": m.name }, el("td", {}, m.name), el("td", {}, m.entries), el("td", {}, per), el("td", {}, rate(Math.max(r, 0))));
  }));
}

function renderJobs(jobs) {
  if (!state.job && jobs.length) {
    const running = jobs.find((j) => j.status === "running") || jobs[0];
    state.job = running.id;
  }
  const body = $("#jobs tbody");
  body.replaceChildren(...jobs.map((j) => {
    const tr = el("tr", { class: "job" + (j.id === state.job ? " selected" : ""), "data-job": j.id },
      el("td", {}, j.id), el("td", {}, j.name), el("td", {}, el("span", { class: "badge " + j.status }, j.status)),
      el("td", {}, j.members.join(", ")), el("td", {}, j.restarts), el("td", {}, j.snapshots),
      el("td", {}, new Date(j.submitted).toLocaleTimeString()));
    tr.addEventListener("click", () => { state.job = j.id; state.prevJob = null; refresh(); });
    return tr;
  }));
}

// layout places vertices in columns by their longest path from a source.
function layout(d) {
  const depth = Object.fromEntries(d.vertices.map((v) => [v.name, 0]));
  for (let i = 0; i < d.vertices.length; i++) {
    for (const e of d.edges) depth[e.to] = Math.max(depth[e.to], depth[e.from] + 1);
  }
  const cols = {};
  for (const v of d.vertices) (cols[depth[v.name]] ||= []).push(v.name);
  const pos = {};
  const W = 210, H = 78, GX = 60, GY = 24;
  let maxRows = 1;
  for (const [c, names] of Object.entries(cols)) {
    maxRows = Math.max(maxRows, names.length);
    names.forEach((n, r) => { pos[n] = { x: 10 + c * (W + GX), y: 10 + r * (H + GY), w: W, h: H }; });
  }
  const ncols = Object.keys(cols).length;
  return { pos, width: 20 + ncols * (W + GX), height: 20 + maxRows * (H + GY) };
}

function renderJob(d, now) {
  $("#job").hidden = false;
  $("#job-title").textContent = `${d.name} (${d.id})`;
  const st = $("#job-status");
  st.textContent = d.status;
  st.className = "badge " + d.status;
  let facts = `guarantee ${d.guarantee} · execution ${d.execution} · restarts ${d.restarts} · snapshots ${d.snapshots}`;
  if (d.lastSnapshot) facts += ` · last snapshot #${d.lastSnapshot.id}: ${(d.lastSnapshot.bytes / 1024).toFixed(1)} KiB in ${(d.lastSnapshot.durationSeconds * 1000).toFixed(0)} ms`;
  if (d.error) facts += ` · error: ${d.error}`;
  $("#job-facts").textContent = facts;

  const prev = state.prevJob && state.prevJob.id === d.id ? state.prevJob : null;
  state.prevJob = { id: d.id, at: now, out: Object.fromEntries(d.vertices.map((v) => [v.name, v.itemsOut + (v.itemsIn && !v.itemsOut ? v.itemsIn : 0)])) };
  const { pos, width, height } = layout(d);
  const g = $("#dag");
  g.setAttribute("viewBox", `0 0 ${width} ${height}`);
  g.style.height = height + "px";
  const defs = svg("defs");
  const marker = svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "10", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto" });
  marker.append(svg("path", { d: "M0,0 L10,5 L0,10 z", fill: "#8a90a3" }));
  defs.append(marker);
  const items = [defs];
  for (const e of d.edges) {
    const a = pos[e.from], b = pos[e.to];
    if (!a || !b) continue;
    const x1 = a.x + a.w, y1 = a.y + a.h / 2, x2 = b.x, y2 = b.y + b.h / 2, mx = (x1 + x2) / 2;
    items.push(svg("path", { class: "edge" + (e.distributed ? " distributed" : ""), d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}` },));
  }
  for (const v of d.vertices) {
    const p = pos[v.name];
    const grp = svg("g", { class: "vertex", "data-vertex": v.name, transform: `translate(${p.x},${p.y})` });
    grp.append(svg("rect", { width: p.w, height: p.h }));
    grp.append(svg("text", { class: "name", x: 10, y: 18 }, v.name));
    const count = state.prevJob.out[v.name];
    const r = prev && prev.out[v.name] !== undefined ? Math.max(0, (count - prev.out[v.name]) / ((now - prev.at) / 1000)) : 0;
    grp.append(svg("text", { class: "throughput", x: 10, y: 36 }, `${rate(r)} items/s · ${v.instances} inst.`));
    const lag = v.watermarkLagSeconds === undefined ? "no watermark" : `wm lag ${v.watermarkLagSeconds.toFixed(1)} s`;
    grp.append(svg("text", { class: "lag", x: 10, y: 53 }, lag));
    grp.append(svg("text", { class: "queued", x: 10, y: 69 }, `queued ${v.queued}${v.late ? " · late " + v.late : ""}`));
    items.push(grp);
  }
  g.replaceChildren(...items);
}

async function control(action) {
  if (!state.job) return;
  let q = "";
  if (action === "export") {
    const name = prompt("Export the snapshot under the name:");
    if (!name) return;
    q = "?name=" + encodeURIComponent(name);
  }
  if (action === "cancel" && !confirm("Cancel job " + state.job + "?")) return;
  const out = $("#action-result");
  out.textContent = action + "…";
  try {
    const j = await api(`jobs/${encodeURIComponent(state.job)}/${action}${q}`, { method: "POST" });
    out.textContent = `${action}: done, job ${j.status}`;
  } catch (e) {
    out.textContent = `${action} failed: ${e.message}`;
  }
  refresh();
}

for (const a of ["suspend", "resume", "restart", "export", "cancel"]) {
  $("#" + a).addEventListener("click", () => control(a));
}

let busy = false;
async function refresh() {
  if (busy) return;
  busy = true;
  try {
    const now = Date.now();
    const [c, maps, jobs] = await Promise.all([api("cluster"), api("maps"), api("jobs")]);
    renderCluster(c);
    renderMaps(maps, now);
    renderJobs(jobs);
    if (state.job) renderJob(await api("jobs/" + encodeURIComponent(state.job)), now);
    $("#status").textContent = "updated " + new Date(now).toLocaleTimeString();
  } catch (e) {
    $("#status").textContent = "error: " + e.message;
  } finally {
    busy = false;
  }
}

refresh();
setInterval(refresh, 1000);
