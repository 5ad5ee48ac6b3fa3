// `/`: the status page. On load it fetches /status and, for the models and servers on screen,
// their 15-minute history (/status/{models,servers}/{name}/history), and draws it as SVG charts:
// in flight and average concurrency above, desired and current replicas below with every decision
// marked. It then polls /status each second and appends the newest seconds of history. Models can
// be filtered by name or server, are sorted by lag (in flight per current replica) or by name,
// and are paged, so a coordinator with thousands of models stays usable.
#include "status_page.h"

#include <string>

namespace lagscale::coordinator {
namespace {

constexpr char kHead[] = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lagscale coordinator</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px system-ui,sans-serif;margin:16px;background:#fafafa;color:#222}
h1{font-size:18px;margin:0 0 8px} h2{font-size:15px;margin:0 0 4px}
.grid{display:flex;flex-wrap:wrap;gap:12px}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px;width:360px}
.meta{color:#555;font-size:12px} .bad{color:#b00} .ok{color:#070}
svg.chart{display:block;margin-top:4px} table{border-collapse:collapse;font-size:12px}
td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:left}
.legend span{margin-right:10px;font-size:12px} .controls{margin:8px 0}
.controls input,.controls select,.controls button{font-size:13px;margin-right:6px}
.tick{font-size:9px;fill:#666} .axis{stroke:#bbb;stroke-width:1}
.line{fill:none;stroke-width:1.5} .inflight{stroke:#d33} .concurrency{stroke:#e90}
.desired{stroke:#36c} .current{stroke:#393} circle.decision{fill:#fff;stroke:#36c;stroke-width:1.5}
</style></head><body>
<h1>lagscale coordinator</h1>
<div id="summary" class="meta">loading…</div>
<div class="controls"><input id="filter" type="search" placeholder="filter models or servers">
<select id="sort"><option value="lag">sort by lag</option><option value="name">sort by name</option></select>
<button id="prev">‹ prev</button><span id="page-info" class="meta"></span> <button id="next">next ›</button></div>
<div class="legend"><span style="color:#d33">■ in flight</span><span style="color:#e90">■ avg concurrency (1 s)</span><span style="color:#36c">■ desired replicas</span><span style="color:#393">■ current replicas</span><span>○ decision</span></div>
<div id="models" class="grid"></div>
<h2 style="margin-top:16px">Servers</h2><div id="server-cards" class="grid"></div>
<table id="servers"></table>
<h2 style="margin-top:16px">Recent decisions</h2><table id="decisions"></table>
<script>
)HTML";

constexpr char kScript[] = R"JS("use strict";
const PAGE = 12, KEEP = 900, W = 340, H = 160, L = 36, R = 8;
const hist = {};  // "model/iris" -> {start, n, inflight, concurrency, desired_replicas, current_replicas, decisions}
let page = 0, last = null;
const $ = id => document.getElementById(id);
function esc(s) { return String(s).replace(/[&<>"]/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;","\"":"&quot;"}[c])); }
const SERIES = ["inflight", "concurrency", "desired_replicas", "current_replicas"];
function merge(key, doc) {
  let h = hist[key];
  if (!h || doc.start_unix_ms < h.start) {
    h = hist[key] = {start: doc.start_unix_ms, n: 0, decisions: []};
    for (const s of SERIES) h[s] = [];
  }
  const n = doc.series.inflight.length;
  for (let i = 0; i < n; i++) {
    const at = Math.round((doc.start_unix_ms - h.start) / 1000) + i;
    for (const s of SERIES) {
      while (h[s].length < at) h[s].push(null);
      h[s][at] = doc.series[s][i];
    }
  }
  h.n = h.inflight.length;
  const drop = Math.max(0, h.n - KEEP);
  if (drop) { for (const s of SERIES) h[s].splice(0, drop); h.start += drop * 1000; h.n -= drop; }
  const seen = new Set(h.decisions.map(d => d.time_unix_ms + "/" + d.to));
  for (const d of doc.decisions) if (!seen.has(d.time_unix_ms + "/" + d.to)) h.decisions.push(d);
  h.decisions = h.decisions.filter(d => d.time_unix_ms >= h.start);
}
async function loadHistory(kind, name) {
  const key = kind + "/" + name, h = hist[key];
  const recent = h && h.n ? "?seconds=10" : "";
  const r = await fetch("status/" + kind + "s/" + encodeURIComponent(name) + "/history" + recent, {cache: "no-store"});
  if (r.ok) merge(key, await r.json());
}
function nice(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v))), m = v / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}
function hhmmss(ms) { return new Date(ms).toTimeString().slice(0, 8); }
// Seconds across the chart: what is known, at least one minute, at most the 15 kept.
function span(h) { return Math.min(KEEP, Math.max(60, h.n)); }
function lines(h, keys, cls, top, bottom, step) {
  let max = 0;
  for (const k of keys) for (const v of h[k]) if (v !== null && v > max) max = v;
  max = nice(max);
  const x = i => L + (span(h) - h.n + i) / (span(h) - 1) * (W - L - R);
  const y = v => bottom - v / max * (bottom - top);
  let out = "<line class=\"axis\" x1=\"" + L + "\" y1=\"" + bottom + "\" x2=\"" + (W - R) + "\" y2=\"" + bottom + "\"/>" +
    "<line class=\"axis\" x1=\"" + L + "\" y1=\"" + top + "\" x2=\"" + L + "\" y2=\"" + bottom + "\"/>" +
    "<text class=\"tick\" x=\"" + (L - 3) + "\" y=\"" + (top + 8) + "\" text-anchor=\"end\">" + +max.toPrecision(3) + "</text>" +
    "<text class=\"tick\" x=\"" + (L - 3) + "\" y=\"" + bottom + "\" text-anchor=\"end\">0</text>";
  keys.forEach((k, j) => {
    const segs = [];
    let cur = [];
    h[k].forEach((v, i) => {
      if (v === null) { if (cur.length) segs.push(cur); cur = []; return; }
      if (step && cur.length) cur.push(x(i).toFixed(1) + "," + cur[cur.length - 1].split(",")[1]);
      cur.push(x(i).toFixed(1) + "," + y(v).toFixed(1));
    });
    if (cur.length) segs.push(cur);
    for (const s of segs) out += "<polyline class=\"line " + cls[j] + "\" data-points=\"" + s.length + "\" points=\"" + s.join(" ") + "\"/>";
  });
  return {svg: out, x: x, y: y};
}
function chart(h) {
  if (!h || !h.n) return "<svg class=\"chart empty\" width=\"" + W + "\" height=\"" + H + "\"><text class=\"tick\" x=\"" + L + "\" y=\"20\">no history yet</text></svg>";
  const a = lines(h, ["inflight", "concurrency"], ["inflight", "concurrency"], 6, 68, false);
  const b = lines(h, ["desired_replicas", "current_replicas"], ["desired", "current"], 82, 144, true);
  let marks = "";
  for (const d of h.decisions) {
    const i = (d.time_unix_ms - h.start) / 1000;
    marks += "<circle class=\"decision\" r=\"3\" cx=\"" + b.x(i).toFixed(1) + "\" cy=\"" + b.y(d.to).toFixed(1) + "\"><title>" +
      esc(hhmmss(d.time_unix_ms) + " " + d.from + " → " + d.to + " " + d.reason) + "</title></circle>";
  }
  const t0 = h.start - (span(h) - h.n) * 1000, t1 = h.start + (h.n - 1) * 1000;
  const xt = [[L, t0, "start"], [(L + W - R) / 2, (t0 + t1) / 2, "middle"], [W - R, t1, "end"]].map(([px, t, anchor]) =>
    "<text class=\"tick time\" x=\"" + px + "\" y=\"" + (H - 4) + "\" text-anchor=\"" + anchor + "\">" + hhmmss(t) + "</text>").join("");
  return "<svg class=\"chart\" width=\"" + W + "\" height=\"" + H + "\" viewBox=\"0 0 " + W + " " + H + "\">" +
    "<text class=\"tick\" x=\"" + (L + 4) + "\" y=\"14\">requests</text><text class=\"tick\" x=\"" + (L + 4) + "\" y=\"90\">replicas</text>" +
    a.svg + b.svg + marks + xt + "</svg>";
}
function card(box, kind, item, meta) {
  const id = kind + "-" + item.name;
  let c = document.getElementById(id);
  if (!c) {
    c = document.createElement("div"); c.className = "card " + kind; c.id = id;
    c.innerHTML = "<h2></h2><div class=\"meta info\"></div><div class=\"plot\"></div><div class=\"meta decision\"></div>";
    c.querySelector("h2").textContent = item.name;
  }
  box.appendChild(c);
  c.querySelector(".info").innerHTML = meta;
  c.querySelector(".plot").innerHTML = chart(hist[kind + "/" + item.name]);
  const d = item.last_decision;
  c.querySelector(".decision").textContent = d ? "last: " + hhmmss(d.time_unix_ms) + " " + d.from + " → " + d.to + " " + d.reason : "no decision yet";
}
function lag(m) { return m.inflight / Math.max(1, m.current_replicas); }
function visibleModels(s) {
  const f = $("filter").value.trim().toLowerCase();
  let ms = s.models.filter(m => !f || m.name.toLowerCase().includes(f) || (m.server || "").toLowerCase().includes(f));
  ms.sort($("sort").value === "name" ? (a, b) => a.name < b.name ? -1 : 1
                                     : (a, b) => lag(b) - lag(a) || (a.name < b.name ? -1 : 1));
  const pages = Math.max(1, Math.ceil(ms.length / PAGE));
  page = Math.min(page, pages - 1);
  $("page-info").textContent = "page " + (page + 1) + " of " + pages + " · " + ms.length + " of " + s.models.length + " models";
  return ms.slice(page * PAGE, page * PAGE + PAGE);
}
function modelMeta(m) {
  const conc = Object.entries(m.concurrency).map(([k, v]) => k + " " + v.toFixed(2)).join(", ");
  return "server " + esc(m.server || "?") + " · replicas <b>" + m.current_replicas + " → " + m.desired_replicas + "</b> [" +
    m.min_replicas + "…" + m.max_replicas + "] · in flight " + m.inflight + " · lag " + lag(m).toFixed(2) +
    "<br>concurrency " + esc(conc) + " · " + m.arrival_rate.toFixed(1) + " req/s" + llmText(m.llm) +
    (m.fresh ? "" : " · <span class=\"bad\">holding (data not fresh)</span>") +
    "<br><span class=\"actuated\">actuated by " + esc(m.actuated_by || "coordinator") + "</span>" + kedaText(m.keda);
}
function ms(s) { return s === null ? "–" : (s * 1000).toFixed(0) + " ms"; }
function llmText(l) {
  if (!l) return "";
  const t = l.time_to_first_byte;
  return "<br><span class=\"llm\">tokens/s " + l.completion_tokens_per_second.toFixed(1) + " out, " +
    l.prompt_tokens_per_second.toFixed(1) + " in · first byte p50 " + ms(t.p50_seconds) + ", p99 " + ms(t.p99_seconds) +
    " (" + t.count + " in " + t.window_seconds + " s)</span>";
}
function kedaText(k) {
  if (!k) return "";
  return " · KEDA read " + esc(k.metric) + " = " + (k.status === "ok" ? Number(k.value).toFixed(2) : esc(k.status)) +
    " (" + new Date(k.time_unix_ms).toLocaleTimeString() + ")";
}
function render(s) {
  const a = s.actuator;
  $("summary").innerHTML = "actuator <b>" + esc(a.name) + "</b> <span class=\"" + (a.healthy ? "ok\">healthy" : "bad\">unhealthy") + "</span>" +
    " · pods " + s.pods.length + " · reports " + s.reports.received +
    (a.last_error ? " · last error: <span class=\"bad\">" + esc(a.last_error.target + ": " + a.last_error.error) + "</span>" : "");
  const box = $("models"), shown = visibleModels(s);
  box.replaceChildren();
  for (const m of shown) card(box, "model", m, modelMeta(m));
  const sbox = $("server-cards");
  sbox.replaceChildren();
  for (const v of s.servers.slice(0, PAGE)) card(sbox, "server", v, "placement " + esc(v.placement) + " · replicas <b>" +
    v.current_replicas + " → " + v.desired_replicas + "</b> [" + v.min_replicas + "…" + v.max_replicas + "] · pods " + v.reporting_pods + " · in flight " + v.inflight);
  $("servers").innerHTML = "<tr><th>server</th><th>placement</th><th>current</th><th>desired</th><th>min</th><th>max</th><th>pods</th></tr>" +
    s.servers.map(v => "<tr><td>" + esc(v.name) + "</td><td>" + esc(v.placement) + "</td><td>" + v.current_replicas + "</td><td>" + v.desired_replicas +
      "</td><td>" + v.min_replicas + "</td><td>" + v.max_replicas + "</td><td>" + v.reporting_pods + "</td></tr>").join("");
  $("decisions").innerHTML = "<tr><th>time</th><th>target</th><th>from</th><th>to</th><th>reason</th></tr>" +
    s.decisions.slice(0, 15).map(d => "<tr class=\"decision-row\"><td>" + hhmmss(d.time_unix_ms) + "</td><td>" + esc(d.kind + "/" + d.name) +
      "</td><td>" + d.from + "</td><td>" + d.to + "</td><td>" + esc(d.reason) + "</td></tr>").join("");
  return [...shown.map(m => ["model", m.name]), ...s.servers.slice(0, PAGE).map(v => ["server", v.name])];
}
async function poll() {
  try {
    const r = await fetch("status", {cache: "no-store"});
    last = await r.json();
    const shown = render(last);
    await Promise.all(shown.map(([k, n]) => loadHistory(k, n).catch(() => {})));
    render(last);
  } catch (e) {
    $("summary").textContent = "cannot reach /status: " + e;
  }
  setTimeout(poll, 1000);
}
// The view (filter, sort, page) lives in the URL's fragment, so a link shows the same models.
function readHash() {
  const p = new URLSearchParams(location.hash.slice(1));
  $("filter").value = p.get("filter") || "";
  if (p.get("sort") === "name") $("sort").value = "name";
  page = Math.max(0, (parseInt(p.get("page"), 10) || 1) - 1);
}
function redraw() {
  history.replaceState(null, "", "#" + new URLSearchParams({filter: $("filter").value, sort: $("sort").value, page: page + 1}));
  if (last) { const shown = render(last); Promise.all(shown.map(([k, n]) => loadHistory(k, n).catch(() => {}))).then(() => render(last)); }
}
$("filter").addEventListener("input", () => { page = 0; redraw(); });
$("sort").addEventListener("change", () => { page = 0; redraw(); });
$("prev").addEventListener("click", () => { page = Math.max(0, page - 1); redraw(); });
$("next").addEventListener("click", () => { page++; redraw(); });
readHash();
poll();
</script></body></html>
)JS";

}  // namespace

const char* StatusPageHtml() {
  static const std::string page = std::string(kHead) + kScript;
  return page.c_str();
}

}  // namespace lagscale::coordinator
