// `/`: polls /status every second, keeps the last minutes in the browser and draws per-model
// charts of in-flight and desired/current replicas on <canvas>, plus the latest decisions.
#include "status_page.h"

namespace lagscale::coordinator {

const char* StatusPageHtml() {
  return R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lagscale coordinator</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px system-ui,sans-serif;margin:16px;background:#fafafa;color:#222}
h1{font-size:18px;margin:0 0 8px} h2{font-size:15px;margin:0 0 4px}
.grid{display:flex;flex-wrap:wrap;gap:12px}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px;width:340px}
.meta{color:#555;font-size:12px} .bad{color:#b00} .ok{color:#070}
canvas{display:block;margin-top:4px} table{border-collapse:collapse;font-size:12px}
td,th{padding:2px 8px;border-bottom:1px solid #eee;text-align:left}
.legend span{margin-right:10px;font-size:12px}
</style></head><body>
<h1>lagscale coordinator</h1>
<div id="summary" class="meta">loading…</div>
<div class="legend"><span style="color:#d33">■ in flight</span><span style="color:#36c">■ desired replicas</span><span style="color:#393">■ current replicas</span></div>
<div id="models" class="grid"></div>
<h2 style="margin-top:16px">Servers</h2><table id="servers"></table>
<h2 style="margin-top:16px">Recent decisions</h2><table id="decisions"></table>
<script>
"use strict";
const KEEP_MS = 5 * 60 * 1000;
const history = {};
function esc(s) { return String(s).replace(/[&<>"]/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;","\"":"&quot;"}[c])); }
function draw(canvas, points) {
  const ctx = canvas.getContext("2d"), w = canvas.width, h = canvas.height;
  ctx.clearRect(0, 0, w, h);
  ctx.strokeStyle = "#eee"; ctx.strokeRect(0, 0, w, h);
  if (points.length < 2) return;
  const t0 = points[0].t, t1 = points[points.length - 1].t || t0 + 1;
  let max = 1;
  for (const p of points) max = Math.max(max, p.inflight, p.desired, p.current);
  const x = t => (t - t0) / Math.max(1, t1 - t0) * (w - 4) + 2;
  const y = v => h - 2 - v / max * (h - 14);
  for (const [key, color] of [["inflight", "#d33"], ["desired", "#36c"], ["current", "#393"]]) {
    ctx.strokeStyle = color; ctx.lineWidth = 1.5; ctx.beginPath();
    points.forEach((p, i) => i ? ctx.lineTo(x(p.t), y(p[key])) : ctx.moveTo(x(p.t), y(p[key])));
    ctx.stroke();
  }
  ctx.fillStyle = "#555"; ctx.font = "10px sans-serif"; ctx.fillText("max " + max.toFixed(1), 4, 10);
}
function kedaText(k) {
  if (!k) return "";
  return " · KEDA read " + esc(k.metric) + " = " + (k.status === "ok" ? Number(k.value).toFixed(2) : esc(k.status)) +
    " (" + new Date(k.time_unix_ms).toLocaleTimeString() + ")";
}
function render(s) {
  const now = s.time_unix_ms;
  const a = s.actuator;
  document.getElementById("summary").innerHTML =
    "actuator <b>" + esc(a.name) + "</b> <span class=\"" + (a.healthy ? "ok\">healthy" : "bad\">unhealthy") + "</span>" +
    " · pods " + s.pods.length + " · reports " + s.reports.received +
    (a.last_error ? " · last error: <span class=\"bad\">" + esc(a.last_error.target + ": " + a.last_error.error) + "</span>" : "");
  const box = document.getElementById("models");
  for (const m of s.models) {
    const h = history[m.name] = history[m.name] || [];
    h.push({t: now, inflight: m.inflight, desired: m.desired_replicas, current: m.current_replicas});
    while (h.length && now - h[0].t > KEEP_MS) h.shift();
    let card = document.getElementById("model-" + m.name);
    if (!card) {
      card = document.createElement("div"); card.className = "card"; card.id = "model-" + m.name;
      card.innerHTML = "<h2></h2><div class=\"meta\"></div><canvas width=\"320\" height=\"90\"></canvas><div class=\"meta decision\"></div>";
      card.querySelector("h2").textContent = m.name;
      box.appendChild(card);
    }
    const conc = Object.entries(m.concurrency).map(([k, v]) => k + " " + v.toFixed(2)).join(", ");
    card.querySelector(".meta").innerHTML = "server " + esc(m.server || "?") + " · replicas " +
      m.current_replicas + " → " + m.desired_replicas + " [" + m.min_replicas + "…" + m.max_replicas + "]" +
      " · in flight " + m.inflight + "<br>concurrency " + esc(conc) + " · " + m.arrival_rate.toFixed(1) + " req/s" +
      (m.fresh ? "" : " · <span class=\"bad\">holding (data not fresh)</span>") +
      "<br><span class=\"actuated\">actuated by " + esc(m.actuated_by || "coordinator") + "</span>" + kedaText(m.keda);
    const d = m.last_decision;
    card.querySelector(".decision").textContent = d ? "last: " + d.from + " → " + d.to + " " + d.reason : "no decision yet";
    draw(card.querySelector("canvas"), h);
  }
  document.getElementById("servers").innerHTML = "<tr><th>server</th><th>placement</th><th>current</th><th>desired</th><th>min</th><th>max</th><th>pods</th></tr>" +
    s.servers.map(v => "<tr><td>" + esc(v.name) + "</td><td>" + esc(v.placement) + "</td><td>" + v.current_replicas + "</td><td>" + v.desired_replicas +
      "</td><td>" + v.min_replicas + "</td><td>" + v.max_replicas + "</td><td>" + v.reporting_pods + "</td></tr>").join("");
  document.getElementById("decisions").innerHTML = "<tr><th>time</th><th>target</th><th>from</th><th>to</th><th>reason</th></tr>" +
    s.decisions.slice(0, 15).map(d => "<tr class=\"decision-row\"><td>" + new Date(d.time_unix_ms).toLocaleTimeString() + "</td><td>" + esc(d.kind + "/" + d.name) +
      "</td><td>" + d.from + "</td><td>" + d.to + "</td><td>" + esc(d.reason) + "</td></tr>").join("");
}
async function poll() {
  try {
    const r = await fetch("status", {cache: "no-store"});
    render(await r.json());
  } catch (e) {
    document.getElementById("summary").textContent = "cannot reach /status: " + e;
  }
  setTimeout(poll, 1000);
}
poll();
</script></body></html>
)HTML";
}

}  // namespace lagscale::coordinator
