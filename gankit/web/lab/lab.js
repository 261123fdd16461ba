// gankit lab: polls /api/state a few times per second and draws it; controls post to the server,
// which trains. Every number on the page comes from the Python process (gankit/lab/).
"use strict";

const $ = (id) => document.getElementById(id);
const POLL_MS = 250;
const REAL = [26, 152, 80], FAKE = [123, 50, 148], MID = [247, 247, 247];
let state = null;
let dirty = true;  // a new state to draw
let lossDocs = {};
let sending = 0;  // settings posts in flight
let settingsSeq = 0;  // bumped by every settings post: a state asked for before it may predate it

async function api(path, body) {
  const init = body === undefined ? {} : {method: "POST", headers: {"Content-Type": "application/json"},
                                          body: JSON.stringify(body)};
  const r = await fetch(path, init);
  const data = await r.json().catch(() => ({error: `${r.status} ${r.statusText}`}));
  if (!r.ok) throw new Error(data.error || `${r.status}`);
  return data;
}

function showError(text) {
  $("error").textContent = text || "";
  $("error").hidden = !text;
}

// ---------------------------------------------------------------- controls
function controls() { return [...document.querySelectorAll("[data-key]")]; }

function valueOf(el) {
  if (el.type === "checkbox") return el.checked;
  if (el.type === "number" || el.id === "pack") return el.value.trim() === "" ? NaN : Number(el.value);
  return el.value;
}

function syncControls(settings) {  // the server's settings win, except in the field being edited
  for (const el of controls()) {
    if (el === document.activeElement && el.tagName === "INPUT" && el.type === "number") continue;
    const v = settings[el.dataset.key];
    if (el.type === "checkbox") el.checked = !!v; else el.value = String(v);
  }
  $("loss-doc").textContent = lossDocs[settings.loss] || "";
}

async function send(key, value) {
  sending++;
  settingsSeq++;
  try {
    // JSON has no NaN: a number that does not parse goes as text and the server says why
    await api("/api/settings", {[key]: Number.isNaN(value) ? $(key).value : value});
    showError("");
  } catch (e) {
    showError(`${key}: ${e.message}`);
  } finally {
    sending--;
  }
  await poll();  // the controls follow the server's settings again: the new ones, or the old on a refusal
}

async function control(action) {
  try {
    await api("/api/control", {action});
    showError("");
    await poll();
  } catch (e) { showError(e.message); }
}

async function setup() {
  const opts = await api("/api/options");
  lossDocs = Object.fromEntries(opts.losses.map((l) => [l.name, l.doc]));
  $("shape").innerHTML = opts.shapes.map((s) => `<option value="${s}">${s}</option>`).join("");
  $("loss").innerHTML = opts.losses.map((l) => `<option value="${l.name}" title="${l.doc.replace(/"/g, "&quot;")}">${l.name}</option>`).join("");
  for (const [key, [lo, hi]] of Object.entries(opts.limits)) {
    const el = $(key);
    if (el && el.type === "number") { el.min = lo; el.max = hi; }
  }
  for (const el of controls()) el.addEventListener("change", () => send(el.dataset.key, valueOf(el)));
  $("play").addEventListener("click", () => control(state && state.playing ? "pause" : "play"));
  $("step").addEventListener("click", () => control("step"));
  $("reset").addEventListener("click", () => control("reset"));
  for (const id of ["show-heat", "show-real", "show-fake", "show-push"]) $(id).addEventListener("change", () => { dirty = true; });
  document.addEventListener("keydown", (e) => {
    if (e.code === "Space" && !["INPUT", "SELECT", "BUTTON"].includes(document.activeElement.tagName)) {
      e.preventDefault();
      $("play").click();
    }
  });
}

// ---------------------------------------------------------------- polling
async function poll() {
  try {
    const seq = settingsSeq;
    state = await api("/api/state");
    dirty = true;
    $("status").textContent = `step ${state.step} · ${state.playing ? `${state.steps_per_s} steps/s` : "paused"}`;
    $("play").textContent = state.playing ? "Pause" : "Play";
    $("stepinfo").textContent = `step ${state.step}`;
    if (!sending && seq === settingsSeq) syncControls(state.settings);  // not while a change is on its way
    if (state.error) showError(state.error);
    $("modes").textContent = state.modes ? `modes held: ${state.modes.covered} / ${state.modes.of}` +
      ` · ${Math.round(100 * state.modes.high_quality)}% near a mode` : "";
  } catch (e) {
    $("status").textContent = `no answer from the lab (${e.message})`;
  }
}

// ---------------------------------------------------------------- drawing
function mix(a, b, t) { return a.map((v, i) => Math.round(v + (b[i] - v) * t)); }

function heatColour(p) {  // 0 = fake (purple), 0.5 = undecided (white), 1 = real (green)
  p = Math.min(1, Math.max(0, p));
  return p < 0.5 ? mix(FAKE, MID, p / 0.5) : mix(MID, REAL, (p - 0.5) / 0.5);
}

function heatImage(heat) {
  const n = heat.side, vals = heat.values;
  let norm = (v) => v;
  if (!heat.probability) {  // a critic's raw score: its own range, higher = more real
    const sorted = [...vals].sort((a, b) => a - b);
    const lo = sorted[Math.floor(0.02 * (sorted.length - 1))], hi = sorted[Math.ceil(0.98 * (sorted.length - 1))];
    norm = (v) => (hi > lo ? (v - lo) / (hi - lo) : 0.5);
  }
  const off = document.createElement("canvas");
  off.width = off.height = n;
  const ctx = off.getContext("2d"), img = ctx.createImageData(n, n);
  for (let i = 0; i < n; i++) {  // row i of the values is y = -extent + ...: the image's row n-1-i
    for (let j = 0; j < n; j++) {
      const c = heatColour(norm(vals[i * n + j])), k = 4 * ((n - 1 - i) * n + j);
      img.data[k] = c[0]; img.data[k + 1] = c[1]; img.data[k + 2] = c[2]; img.data[k + 3] = 255;
    }
  }
  ctx.putImageData(img, 0, 0);
  return off;
}

function drawPlane() {
  const cv = $("plane"), ctx = cv.getContext("2d"), W = cv.width, e = state.extent;
  const sx = (x) => (x + e) / (2 * e) * W, sy = (y) => (e - y) / (2 * e) * W;
  ctx.clearRect(0, 0, W, W);
  if ($("show-heat").checked && state.heat.values.length) {
    ctx.imageSmoothingEnabled = true;
    ctx.globalAlpha = 0.75;
    ctx.drawImage(heatImage(state.heat), 0, 0, W, W);
    ctx.globalAlpha = 1;
  }
  ctx.strokeStyle = "rgba(0,0,0,0.12)";  // the axes
  ctx.beginPath(); ctx.moveTo(sx(0), 0); ctx.lineTo(sx(0), W); ctx.moveTo(0, sy(0)); ctx.lineTo(W, sy(0)); ctx.stroke();
  const dots = (pts, rgb, r) => {
    ctx.fillStyle = `rgba(${rgb.join(",")},0.75)`;
    for (const [x, y] of pts) { ctx.beginPath(); ctx.arc(sx(x), sy(y), r, 0, 2 * Math.PI); ctx.fill(); }
  };
  if ($("show-real").checked) dots(state.real, REAL, 2.2);
  if ($("show-push").checked && state.push.length) {
    const len = state.push.map(([u, v]) => Math.hypot(u, v)), top = Math.max(...len) || 1;
    const scale = 0.12 * e / top;  // the longest arrow is 12% of the half-width: directions and relative sizes
    ctx.strokeStyle = "rgba(60,60,60,0.55)";
    ctx.beginPath();
    state.fake.forEach(([x, y], i) => {
      const [u, v] = state.push[i], x2 = x + scale * u, y2 = y + scale * v;
      ctx.moveTo(sx(x), sy(y)); ctx.lineTo(sx(x2), sy(y2));
    });
    ctx.stroke();
  }
  if ($("show-fake").checked) dots(state.fake, FAKE, 2.2);
  $("heat-legend").textContent = state.heat.probability ? "D says fake ← 1/2 → real" : "D's score: low ← → high (its own scale)";
}

function drawChart(id, series, opts = {}) {
  const cv = $(id), ctx = cv.getContext("2d"), W = cv.width, H = cv.height, pad = {l: 44, r: 8, t: 8, b: 20};
  const steps = state.history.step;
  ctx.clearRect(0, 0, W, H);
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillStyle = "#667";
  if (steps.length < 2) { ctx.fillText("the curves start after the first steps", pad.l, H / 2); return; }
  let vals = series.flatMap((s) => state.history[s.key]).filter(Number.isFinite);
  if (opts.line !== undefined) vals.push(opts.line);
  let lo = Math.min(...vals), hi = Math.max(...vals);
  if (hi - lo < 1e-6) { lo -= 0.5; hi += 0.5; }
  const x0 = steps[0], x1 = steps[steps.length - 1];
  const px = (s) => pad.l + (s - x0) / Math.max(1, x1 - x0) * (W - pad.l - pad.r);
  const py = (v) => pad.t + (hi - v) / (hi - lo) * (H - pad.t - pad.b);
  ctx.strokeStyle = "#d0d4dc";
  ctx.strokeRect(pad.l, pad.t, W - pad.l - pad.r, H - pad.t - pad.b);
  ctx.fillText(hi.toPrecision(3), 2, pad.t + 8);
  ctx.fillText(lo.toPrecision(3), 2, H - pad.b);
  ctx.fillText(`step ${x0}`, pad.l, H - 5);
  const last = `step ${x1}`;
  ctx.fillText(last, W - pad.r - ctx.measureText(last).width, H - 5);
  if (opts.line !== undefined) {
    ctx.setLineDash([5, 4]); ctx.strokeStyle = "#888";
    ctx.beginPath(); ctx.moveTo(pad.l, py(opts.line)); ctx.lineTo(W - pad.r, py(opts.line)); ctx.stroke();
    ctx.setLineDash([]);
  }
  let lx = pad.l + 6;
  const line = (ys, colour, width, alpha) => {
    ctx.strokeStyle = colour; ctx.lineWidth = width; ctx.globalAlpha = alpha;
    ctx.beginPath();
    let pen = false;
    steps.forEach((st, i) => {
      if (!Number.isFinite(ys[i])) { pen = false; return; }
      if (pen) ctx.lineTo(px(st), py(ys[i])); else ctx.moveTo(px(st), py(ys[i]));
      pen = true;
    });
    ctx.stroke();
    ctx.lineWidth = 1; ctx.globalAlpha = 1;
  };
  for (const s of series) {
    const ys = state.history[s.key];
    line(ys, s.colour, 1, 0.3);  // every recorded step, faint; its running mean on top
    line(smooth(ys, Math.max(1, Math.round(ys.length / 30))), s.colour, 2, 1);
    ctx.fillStyle = s.colour;
    ctx.fillText(s.key, lx, pad.t + 12);
    lx += ctx.measureText(s.key).width + 12;
  }
}

function smooth(ys, k) {  // centred moving average over 2k+1 points (fewer at the ends)
  return ys.map((_, i) => {
    let sum = 0, n = 0;
    for (let j = Math.max(0, i - k); j <= Math.min(ys.length - 1, i + k); j++) {
      if (Number.isFinite(ys[j])) { sum += ys[j]; n++; }
    }
    return n ? sum / n : NaN;
  });
}

function draw() {
  if (dirty && state) {
    dirty = false;
    drawPlane();
    drawChart("losses", [{key: "D_loss", colour: "#1f77b4"}, {key: "G_loss", colour: "#d62728"}]);
    const prob = state.heat.probability;
    $("prob-title").textContent = prob ? "D(x) and D(G(z))" : "D's mean score on real and generated points";
    drawChart("probs", [{key: "D(x)", colour: `rgb(${REAL})`}, {key: "D(G(z))", colour: `rgb(${FAKE})`}],
              prob ? {line: 0.5} : {});
  }
  requestAnimationFrame(draw);
}

async function loop() {
  await poll();
  setTimeout(loop, POLL_MS);
}

setup().then(() => { loop(); requestAnimationFrame(draw); }).catch((e) => showError(`the lab did not start: ${e.message}`));
