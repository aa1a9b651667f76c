// mstag live page: connects to mstag-live's WebSocket, draws bars, a timeline and cues.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { ws: null, tags: [], control: false, rows: new Map(), history: [], retry: 500 };

function wsUrl(cfg) {
  const host = cfg.ws_host || location.hostname;
  const h = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
  return `ws://${h}:${cfg.ws_port}`;
}

function snippets(url) {
  $("p5").textContent = `// p5.js (e.g. editor.p5js.org): a circle that grows with "rock"
let tags = {};
new WebSocket("${url}").onmessage = (e) => {
  const m = JSON.parse(e.data);
  if (m.window) tags = m.window;
};
function setup() { createCanvas(400, 400); }
function draw() {
  background(0);
  circle(200, 200, 40 + 320 * (tags["rock"] || 0));
}`;
  $("hydra").textContent = `// Hydra (hydra.ojack.xyz): "electronic" speeds the oscillator, "rock" adds sides
window.tags = {};
new WebSocket("${url}").onmessage = (e) => {
  const m = JSON.parse(e.data);
  if (m.window) window.tags = m.window;
};
osc(10, () => 0.05 + 0.5 * (tags["electronic"] || 0), 1.2)
  .kaleid(() => 2 + 8 * (tags["rock"] || 0))
  .out()`;
}

function subscribe() {
  if (state.ws && state.ws.readyState === 1 && state.control) {
    state.ws.send(JSON.stringify({ view: $("view").value, top: Number($("top").value) }));
  }
}

function row(name) {
  let r = state.rows.get(name);
  if (!r) {
    r = document.createElement("div");
    r.className = "row";
    r.dataset.tag = name;
    r.innerHTML = '<span class="name"></span><div class="track"><div class="fill"></div></div><span class="value"></span>';
    r.querySelector(".name").textContent = name;
    state.rows.set(name, r);
  }
  return r;
}

function drawBars(best) {
  const bars = $("bars");
  const keep = new Set(best.map(([n]) => n));
  for (const [n, r] of state.rows) if (!keep.has(n)) { r.remove(); state.rows.delete(n); }
  best.forEach(([name, v], i) => {
    const r = row(name);
    r.classList.toggle("top", i === 0);
    r.querySelector(".fill").style.width = `${(100 * Math.max(0, Math.min(1, v))).toFixed(1)}%`;
    r.querySelector(".value").textContent = v.toFixed(2);
    r.dataset.value = v;
    if (bars.children[i] !== r) bars.insertBefore(r, bars.children[i] || null);
  });
}

function drawTimeline(best) {
  const c = $("timeline"), g = c.getContext("2d");
  const names = best.map(([n]) => n).slice(0, 10);
  const h = c.height / Math.max(1, names.length);
  g.drawImage(c, -3, 0); // scroll left
  g.fillStyle = "#0b0d10";
  g.fillRect(c.width - 3, 0, 3, c.height);
  const values = Object.fromEntries(best);
  names.forEach((n, i) => {
    // sqrt: low values stay visible on the dark background.
    const v = Math.sqrt(Math.max(0, Math.min(1, values[n] || 0)));
    g.fillStyle = `rgba(79, 179, 169, ${v})`;
    g.fillRect(c.width - 3, i * h, 3, h - 1);
  });
  g.fillStyle = "rgba(11, 13, 16, 0.75)";
  g.fillRect(0, 0, 120, c.height);
  g.fillStyle = "#e8eaed";
  g.font = "12px system-ui, sans-serif";
  names.forEach((n, i) => g.fillText(n, 6, i * h + Math.min(h, 16)));
}

function onScores(m) {
  const view = $("view").value, top = Number($("top").value);
  const scores = m[view];
  if (!scores) return;
  const best = Object.entries(scores)
    .filter(([, v]) => typeof v === "number")
    .sort((a, b) => b[1] - a[1])
    .slice(0, top);
  drawBars(best);
  drawTimeline(best);
  $("time").textContent = `${m.t.toFixed(1)} s${m.silent ? " (silent)" : ""}${m.final ? " (final)" : ""}`;
  const heads = m.heads && m.heads[view];
  $("heads").textContent = heads
    ? Object.entries(heads).map(([h, l]) => {
        const [name] = Object.entries(l).sort((a, b) => b[1] - a[1])[0] || ["-"];
        return `${h}: ${name}`;
      }).join(" · ")
    : "";
}

function onMessage(e) {
  state.messages = (state.messages || 0) + 1;
  document.body.dataset.messages = state.messages;
  let m;
  try { m = JSON.parse(e.data); } catch { return; }
  if (m.hello) {
    state.tags = m.hello.tags;
    state.control = m.hello.control;
    $("input").textContent = m.hello.input;
    $("scale").textContent = m.hello.scale === "raw" ? "" : `${m.hello.scale} values`;
    const d = $("device");
    d.innerHTML = '<option value="">(this input)</option>';
    for (const dev of m.hello.devices) {
      const o = document.createElement("option");
      o.value = dev.id;
      o.textContent = dev.name;
      d.appendChild(o);
    }
    d.disabled = !state.control || m.hello.devices.length === 0;
    $("cues").innerHTML = "";
    for (const [cue, on] of Object.entries(m.hello.cues || {})) {
      const li = document.createElement("li");
      li.textContent = `now  ${cue} ${on ? "on" : "off"}`;
      $("cues").prepend(li);
    }
    subscribe();
  } else if (m.cue !== undefined || m.top_changed !== undefined) {
    const li = document.createElement("li");
    li.textContent = m.cue !== undefined
      ? `${m.t.toFixed(1)} s  ${m.cue} ${m.on ? "on" : "off"}`
      : `${m.t.toFixed(1)} s  top → ${m.top_changed}`;
    $("cues").prepend(li);
  } else if (m.input !== undefined) {
    $("input").textContent = m.input;
  } else if (m.error !== undefined) {
    $("input").textContent = `error: ${m.error}`;
  } else if (m.t !== undefined) {
    onScores(m);
  }
}

function connect(url) {
  const ws = new WebSocket(url);
  state.ws = ws;
  ws.onopen = () => { state.retry = 500; $("status").textContent = "connected"; $("status").className = "on"; };
  ws.onmessage = onMessage;
  ws.onclose = () => {
    $("status").textContent = "disconnected, retrying";
    $("status").className = "";
    setTimeout(() => connect(url), state.retry);
    state.retry = Math.min(5000, state.retry * 2);
  };
}

$("view").onchange = subscribe;
$("top").onchange = subscribe;
$("device").onchange = () => {
  const name = $("device").value;
  if (name && state.ws && state.control) state.ws.send(JSON.stringify({ device: name }));
};

fetch("config.json")
  .then((r) => r.json())
  .then((cfg) => { const url = wsUrl(cfg); snippets(url); connect(url); })
  .catch((e) => { $("status").textContent = `no configuration: ${e}`; });
