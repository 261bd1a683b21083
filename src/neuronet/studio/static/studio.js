"use strict";
// neuronet studio: the page. It sends its controls and commands to the server over one
// WebSocket and draws the run's snapshots. Every number it shows comes from the server,
// which computes it with neuronet's own forward and backward passes.

const $ = (id) => document.getElementById(id);
const WHITE = [255, 255, 255];
const CLASS_COLORS = [[245, 147, 34], [8, 119, 189], [42, 157, 74], [155, 89, 182], [231, 76, 60],
  [140, 86, 75], [227, 119, 194], [127, 127, 127], [188, 189, 34], [23, 190, 207]];
const ORANGE = CLASS_COLORS[0], BLUE = CLASS_COLORS[1];
const MOST_DRAWN_NODES = 32;
const MOST_HISTORY = 1500;
const NETWORK_SIZE = [540, 236];  // the network drawing's largest width and height, in pixels

const page = {
  socket: null, session: null, kinds: {}, datasets: {}, ready: null, wantPlay: false,
  history: [], example: 0, sendTimer: null, last: null,
};

// --- small helpers ------------------------------------------------------------------------
function decode(base64) {
  const text = atob(base64);
  const values = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) values[i] = text.charCodeAt(i);
  return values;
}

function mix(a, b, t) {
  return [0, 1, 2].map((i) => Math.round(a[i] + (b[i] - a[i]) * t));
}

function rgb(color, alpha = 1) {
  return `rgba(${color[0]}, ${color[1]}, ${color[2]}, ${alpha})`;
}

function diverging(byte) {
  // 0 → orange, 128 → white, 255 → blue: a signed value in the Playground's colours
  const value = byte / 127.5 - 1;
  return value < 0 ? mix(WHITE, ORANGE, -value) : mix(WHITE, BLUE, value);
}

function number(text) {
  return text === "" || text === null ? null : Number(text);
}

function fixed(value, digits = 4) {
  return value === null || value === undefined ? "–" : value.toFixed(digits);
}

function significant(value, digits = 3) {
  // a loss of 0.000312 as 0.000312, not 0.0003: its first digits, wherever they are
  return value === null || value === undefined ? "–" : String(Number(value.toPrecision(digits)));
}

function imageCanvas(width, height, colorAt) {
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d");
  const image = context.createImageData(width, height);
  for (let i = 0; i < width * height; i++) {
    const color = colorAt(i);
    image.data.set([color[0], color[1], color[2], 255], 4 * i);
  }
  context.putImageData(image, 0, 0);
  return canvas;
}

function drawScaled(context, source, x, y, width, height) {
  context.imageSmoothingEnabled = true;
  context.imageSmoothingQuality = "high";
  context.drawImage(source, x, y, width, height);
}

function pictureOf(bytes, shape, colors) {
  // an image (channels, height, width) from bytes: three channels as RGB, one through colors
  const [channels, height, width] = shape;
  const plane = height * width;
  return imageCanvas(width, height, (i) => channels === 3
    ? [bytes[i], bytes[plane + i], bytes[2 * plane + i]] : colors(bytes[i]));
}

function tile(canvas, caption, size) {
  const box = document.createElement("div");
  box.className = "tile";
  const scale = Math.max(1, Math.round(size / Math.max(canvas.width, canvas.height)));
  canvas.style.width = `${canvas.width * scale}px`;
  canvas.style.height = `${canvas.height * scale}px`;
  box.append(canvas);
  if (caption) {
    const text = document.createElement("span");
    text.textContent = caption;
    box.append(text);
  }
  return box;
}

// --- the connection ---------------------------------------------------------------------------
function connect() {
  const socket = new WebSocket(`ws://${location.host}/ws`);
  page.socket = socket;
  socket.addEventListener("message", (event) => receive(JSON.parse(event.data)));
  socket.addEventListener("close", () => {
    if (!page.refused) showBanner("The connection to the studio closed (was the server stopped?). Start it again and reload this page.");
    setEnabled(false);
  });
}

function send(message) {
  if (page.socket && page.socket.readyState === WebSocket.OPEN) page.socket.send(JSON.stringify(message));
}

function receive(message) {
  const handlers = { hello, invalid, preparing, ready, snapshot, error: (m) => showBanner(m.message), refused,
    sample: (m) => sampleTaken(m) };
  (handlers[message.type] || (() => {}))(message);
  lessonSees(message);  // lessons.js
  rlSees(message);  // rl.js: CartPole
}

function hello(message) {
  page.session = message.session;
  page.kindDefaults = message.kind_defaults || {};
  const select = $("dataset");
  for (const dataset of message.datasets) {
    page.datasets[dataset.key] = dataset;
    select.append(new Option(dataset.key + (dataset.from_command_line ? " (--data)" : ""), dataset.key));
  }
  applyDefaults(message.defaults);
  openLink(message.defaults);  // lessons.js: the page the address describes
  sendSettings();
  sendPace();
}

function refused(message) {
  page.refused = true;
  showBanner(message.message);
}

function invalid(message) {
  const shownBeside = new Set();
  for (const element of document.querySelectorAll("[data-error-for]")) {
    const fields = element.dataset.errorFor.split(" ");
    fields.forEach((f) => shownBeside.add(f));
    element.textContent = fields.filter((f) => f in message.errors).map((f) => message.errors[f]).join("\n");
  }
  const elsewhere = Object.keys(message.errors).filter((f) => !shownBeside.has(f));
  showBanner(elsewhere.length ? elsewhere.map((f) => message.errors[f]).join(" ")
    : "These settings cannot train; the messages are beside the controls. The last run goes on.");
}

function preparing(message) {
  for (const element of document.querySelectorAll("[data-error-for]")) element.textContent = "";
  showBanner(`Preparing ${message.dataset} and the network…`, true);
}

function clearErrors() {
  for (const element of document.querySelectorAll("[data-error-for]")) element.textContent = "";
  hideBanner();
}

function ready(message) {
  page.ready = message;
  page.history = [];
  page.last = null;
  page.example = 0;
  clearErrors();
  sampleReset();
  showDiagnoses([]);
  $("summary").textContent = message.summary;
  $("parameter-count").textContent = `${message.parameters.toLocaleString("en")} parameters`;
  $("data-description").textContent = `${message.description}: ${message.train_samples} training and ` +
    `${message.test_samples} test samples; minibatches of ${message.batch_size}, ${message.batches_per_epoch} an epoch.`;
  const live = message.live_samples;
  $("live-samples").textContent = live.test < message.test_samples
    ? `measured on ${live.train} training and ${live.test} test samples` : `all ${live.test} test samples`;
  const download = $("download");
  download.href = `/api/runs/${page.session}/model`;
  download.classList.remove("disabled");
  setEnabled(true);
  if (page.wantPlay) send({ type: "play" });
}

function snapshot(message) {
  if (!page.ready || message.run !== page.ready.run) return;
  page.last = message;
  $("play").textContent = message.state === "playing" ? "Pause" : "Play";
  if (message.state === "diverged" || message.state === "error") {
    page.wantPlay = false;
    showBanner(message.message);
  }
  if (message.metrics === undefined) return;
  showDiagnoses(message.diagnoses || []);
  $("step-count").textContent = message.step;
  $("epoch-count").textContent = message.epoch;
  $("train-loss").textContent = significant(message.metrics.loss);
  $("train-accuracy").textContent = fixed(message.metrics.accuracy);
  $("test-accuracy").textContent = fixed(message.metrics.test_accuracy);
  remember(message);
  draw(message);
}

function remember(message) {
  const history = page.history;
  if (history.length && history[history.length - 1].step === message.step) history.pop();
  history.push({ step: message.step, ...message.metrics });
  if (history.length > MOST_HISTORY) page.history = history.filter((_, i) => i % 2 === 0 || i === history.length - 1);
}

function showBanner(text, note = false) {
  const banner = $("banner");
  banner.textContent = text;
  banner.classList.toggle("note", note);
  banner.classList.remove("hidden");
}

function showDiagnoses(diagnoses) {
  // why the network stopped learning, one line a finding, with what to try in the controls
  const banner = $("diagnosis");
  banner.replaceChildren(...diagnoses.map((d) => {
    const line = document.createElement("p");
    line.textContent = d.text;
    return line;
  }));
  banner.classList.toggle("hidden", !diagnoses.length);
}

function hideBanner() {
  $("banner").classList.add("hidden");
}

function setEnabled(enabled) {
  for (const id of ["play", "step-batch", "step-epoch", "step-sample", "reset", "copy-python"]) $(id).disabled = !enabled;
}

// --- the controls ------------------------------------------------------------------------------
function sizeInputs(id) {
  return [...$(id).querySelectorAll("input")];
}

function setSizes(id, sizes) {
  const holder = $(id);
  holder.replaceChildren();
  sizes.forEach((size) => addSize(id, size));
}

function addSize(id, size) {
  const input = document.createElement("input");
  input.type = "number";
  input.min = 1;
  input.value = size;
  input.id = `${id}-${sizeInputs(id).length}`;
  input.title = id === "hidden" ? "neurons in this hidden layer" : "filters in this convolution block";
  input.addEventListener("change", scheduleSend);
  $(id).append(input);
}

function applyDefaults(defaults) {
  $("dataset").value = defaults.dataset;
  datasetChosen();
  $("test-fraction").value = defaults.test_fraction;
  $("seed").value = defaults.seed;
  $(`model-${defaults.model}`).checked = true;
  setSizes("hidden", defaults.hidden);
  setSizes("conv", defaults.conv);
  $("activation").value = defaults.activation;
  $("learning-rate").value = String(defaults.learning_rate);
  $("batch-size").value = defaults.batch_size;
  $("optimizer").value = defaults.optimizer;
  $("l2").value = String(defaults.l2);
  $("dropout").value = String(defaults.dropout);
  showValues();
  updateLayout();
}

function datasetChosen() {
  const dataset = page.datasets[$("dataset").value];
  if (dataset && dataset.kind === "plane") {
    $("samples").value = dataset.samples;
    $("noise").value = dataset.noise;
  }
  if (dataset && dataset.kind !== page.kind) kindChosen(dataset.kind);
  showValues();
  updateLayout();
}

function kindChosen(kind) {
  // another kind of data (points, a table, images): the settings that learn it
  const chosen = page.kindDefaults[kind];
  page.kind = kind;
  if (!chosen) return;
  setSizes("hidden", chosen.hidden);
  setSizes("conv", chosen.conv);
  $("activation").value = chosen.activation;
  $("learning-rate").value = String(chosen.learning_rate);
  $("batch-size").value = chosen.batch_size;
  $("optimizer").value = chosen.optimizer;
}

function showValues() {
  for (const id of ["samples", "noise", "test-fraction"]) $(`${id}-value`).textContent = $(id).value;
}

function chosenModel() {
  return document.querySelector("input[name=model]:checked").value;
}

function updateLayout() {
  const dataset = page.datasets[$("dataset").value];
  document.body.className = `${dataset ? dataset.kind : "plane"} ${chosenModel()}`;
}

function settings() {
  const kind = page.datasets[$("dataset").value].kind;
  const chosen = {
    dataset: $("dataset").value, test_fraction: number($("test-fraction").value), seed: number($("seed").value),
    model: chosenModel(), hidden: sizeInputs("hidden").map((input) => number(input.value)),
    activation: $("activation").value, conv: kind === "images" ? sizeInputs("conv").map((i) => number(i.value)) : [],
    learning_rate: number($("learning-rate").value), batch_size: number($("batch-size").value),
    optimizer: $("optimizer").value, l2: number($("l2").value), dropout: number($("dropout").value),
  };
  if (kind === "plane") {
    chosen.samples = number($("samples").value);
    chosen.noise = number($("noise").value);
    chosen.features = chosenFeatures();
  }
  return chosen;
}

function sendSettings() {
  send({ type: "settings", settings: settings() });
  writeLink();
}

function scheduleSend() {
  showValues();
  updateLayout();
  clearTimeout(page.sendTimer);
  page.sendTimer = setTimeout(sendSettings, 150);
}

function wireControls() {
  $("dataset").addEventListener("change", () => { datasetChosen(); scheduleSend(); });
  for (const id of ["samples", "noise", "test-fraction"]) $(id).addEventListener("input", showValues);
  for (const id of ["samples", "noise", "test-fraction", "seed", "activation", "learning-rate", "batch-size",
    "optimizer", "l2", "dropout", "model-network", "model-neuron"]) $(id).addEventListener("change", scheduleSend);
  $("add-layer").addEventListener("click", () => {
    const inputs = sizeInputs("hidden");
    addSize("hidden", inputs.length ? inputs[inputs.length - 1].value : 4);
    scheduleSend();
  });
  $("remove-layer").addEventListener("click", () => { sizeInputs("hidden").pop()?.remove(); scheduleSend(); });
  $("add-conv").addEventListener("click", () => { addSize("conv", 8); scheduleSend(); });
  $("remove-conv").addEventListener("click", () => { sizeInputs("conv").pop()?.remove(); scheduleSend(); });
  $("play").addEventListener("click", () => {
    page.wantPlay = !(page.last && page.last.state === "playing");
    send({ type: page.wantPlay ? "play" : "pause" });
  });
  $("step-batch").addEventListener("click", () => { page.wantPlay = false; send({ type: "step", value: "batch" }); });
  $("step-epoch").addEventListener("click", () => { page.wantPlay = false; send({ type: "step", value: "epoch" }); });
  $("reset").addEventListener("click", () => send({ type: "reset" }));
  $("speed").addEventListener("change", () => send({ type: "speed", value: number($("speed").value) }));
  $("show-test").addEventListener("change", () => page.last && drawBoundary(page.last));
  $("previous-example").addEventListener("click", () => chooseExample(-1));
  $("next-example").addEventListener("click", () => chooseExample(1));
  $("copy-python").addEventListener("click", showPython);
  $("python-copy").addEventListener("click", () => navigator.clipboard.writeText($("python-code").textContent)
    .then(() => { $("python-copied").textContent = "copied"; }, () => { $("python-copied").textContent = "select the text and copy it"; }));
  $("python-close").addEventListener("click", () => $("python-dialog").close());
}

function chooseExample(step) {
  if (!page.ready) return;
  page.example = Math.min(Math.max(0, page.example + step), page.ready.test_samples - 1);
  send({ type: "example", value: page.example });
}

async function showPython() {
  const answer = await fetch(`/api/runs/${page.session}/python`);
  const text = await answer.text();
  if (!answer.ok) return showBanner(text);
  $("python-code").textContent = text;
  $("python-copied").textContent = "";
  $("python-dialog").showModal();
}

// --- the views ---------------------------------------------------------------------------------
function draw(message) {
  drawNetwork(message);
  drawCurves();
  drawGradients(message);
  drawConfusion(message);
  drawMistakes(message);
  if (message.plane) drawBoundary(message);
  if (message.units !== undefined) drawUnits(message);
  if (message.example) drawMaps(message);
  if (message.lesson) drawLesson(message);
}

function planeColor(probabilities, i, threshold = 0.5) {
  // the most likely class's colour, paler the less sure the network is; two classes split at the threshold
  if (probabilities.length === 2) {
    const p = probabilities[1][i] / 255;
    const index = p > threshold ? 1 : 0;
    const sureness = index ? (p - threshold) / (1 - threshold) : (threshold - p) / threshold;
    return mix(WHITE, CLASS_COLORS[index], 0.15 + 0.55 * sureness);
  }
  let best = 0, index = 0;
  for (let k = 0; k < probabilities.length; k++) {
    if (probabilities[k][i] > best) { best = probabilities[k][i]; index = k; }
  }
  const classes = probabilities.length;
  const sureness = Math.max(0, (best / 255 - 1 / classes) / (1 - 1 / classes));
  return mix(WHITE, CLASS_COLORS[index % CLASS_COLORS.length], 0.15 + 0.55 * sureness);
}

function drawBoundary(message) {
  const canvas = $("boundary");
  const context = canvas.getContext("2d");
  const plane = message.plane;
  const probabilities = plane.probabilities.map(decode);
  drawScaled(context, imageCanvas(plane.size, plane.size, (i) => planeColor(probabilities, i, message.threshold)), 0, 0,
    canvas.width, canvas.height);
  const points = page.ready.points;
  const [x0, x1, y0, y1] = points.extent;
  const at = ([x, y]) => [(x - x0) / (x1 - x0) * canvas.width, (y1 - y) / (y1 - y0) * canvas.height];
  const dot = (point, label, test) => {
    const [x, y] = at(point);
    context.beginPath();
    context.arc(x, y, test ? 3.5 : 3, 0, 2 * Math.PI);
    context.fillStyle = rgb(CLASS_COLORS[label % CLASS_COLORS.length]);
    context.fill();
    context.lineWidth = test ? 1.6 : 0.8;
    context.strokeStyle = test ? "#1f2328" : "white";
    context.stroke();
  };
  points.train.forEach((point, i) => dot(point, points.train_labels[i], false));
  if ($("show-test").checked) points.test.forEach((point, i) => dot(point, points.test_labels[i], true));
}

function networkColumns(message) {
  // one column per layer of units: the inputs, then each convolution and Dense layer
  const layers = page.ready.layers;
  const maps = message.plane ? message.plane.neurons : [];
  return layers.map((layer, index) => ({
    ...layer, first: index === 0, last: index === layers.length - 1,
    maps: index > 0 && index < layers.length - 1 ? maps[index - 1] : null,
  }));
}

function columnLabel(column) {
  const activation = (column.activation || "").toLowerCase();
  if (column.first) return "inputs";
  if (column.last) return `output · ${activation}`;
  if (column.kind === "conv") return `conv ${column.shape[0]} · ${activation}`;
  return `${column.units} · ${activation}`;
}

function boxLabel(column) {
  if (column.kind === "conv") return `${column.shape[0]} maps of ${column.shape[1]}×${column.shape[2]}`;
  if (column.first && column.shape.length === 3) return `${column.shape.join("×")} image`;
  return `${column.units.toLocaleString("en")} ${column.first ? "inputs" : "units"}`;
}

function drawNetwork(message) {
  const canvas = $("network");
  const columns = networkColumns(message);
  const plane = Boolean(message.plane);
  const shown = (column) => column.kind !== "conv" && column.units <= MOST_DRAWN_NODES ? column.units : 0;
  const tallest = Math.max(...columns.map((c) => Math.max(shown(c), 1)));
  // drawn at the size it is shown, a laptop's screen (NETWORK_SIZE): the tallest column sets the nodes' size
  const pitch = Math.min(plane ? 44 : 20, Math.floor((NETWORK_SIZE[1] - 46) / tallest));
  const node = Math.round(pitch * (plane ? 0.77 : 0.7)), gap = pitch - node;
  canvas.height = Math.max(180, 46 + tallest * pitch);
  canvas.width = Math.min(NETWORK_SIZE[0], Math.max(420, 90 + columns.length * 130));
  const context = canvas.getContext("2d");
  context.clearRect(0, 0, canvas.width, canvas.height);
  page.drawnNodes = [];  // each neuron's picture and place, for hovering (sample.js)
  const top = 16, bottom = canvas.height - 30;
  const xs = columns.map((_, i) => 50 + i * (canvas.width - 100) / Math.max(1, columns.length - 1));
  const ys = columns.map((c) => {
    const n = shown(c);
    const span = n * node + (n - 1) * gap;
    const start = top + (bottom - top - span) / 2 + node / 2;
    return Array.from({ length: n }, (_, i) => start + i * (node + gap));
  });
  drawLinks(context, message.weights, columns, xs, ys, node);
  columns.forEach((column, c) => {
    if (!shown(column)) {
      drawBox(context, xs[c], top, bottom, boxLabel(column));
    } else {
      ys[c].forEach((y, unit) => drawNode(context, column, unit, xs[c], y, node, message));
    }
    context.fillStyle = "#5f6b76";
    context.font = "11px system-ui, sans-serif";
    context.textAlign = "center";
    context.fillText(columnLabel(column), xs[c], canvas.height - 10);
  });
}

function drawBox(context, x, top, bottom, label) {
  context.fillStyle = "#eef2f5";
  context.strokeStyle = "#c9d1d9";
  context.fillRect(x - 16, top, 32, bottom - top);
  context.strokeRect(x - 16, top, 32, bottom - top);
  context.save();
  context.translate(x + 4, (top + bottom) / 2);
  context.rotate(-Math.PI / 2);
  context.fillStyle = "#5f6b76";
  context.font = "11px system-ui, sans-serif";
  context.textAlign = "center";
  context.fillText(label, 0, 0);
  context.restore();
}

function drawNode(context, column, unit, x, y, size, message) {
  const half = size / 2;
  let picture = null;
  if (message.plane && column.first && message.plane.inputs) {
    // each input neuron's feature (x₁, x₁², sin x₂, …) over the plane
    const n = message.plane.neuron_size, values = decode(message.plane.inputs[unit]);
    picture = imageCanvas(n, n, (i) => diverging(values[i]));
  } else if (message.plane && column.first) {
    // the inputs x₁ and x₂ over the plane: left to right, and bottom to top
    const n = message.plane.neuron_size;
    picture = imageCanvas(n, n, (i) => diverging(unit === 0 ? (i % n) / (n - 1) * 255 : (1 - Math.floor(i / n) / (n - 1)) * 255));
  } else if (column.maps) {
    const values = decode(column.maps[unit]);
    const n = message.plane.neuron_size;
    picture = imageCanvas(n, n, (i) => diverging(values[i]));
  } else if (message.plane && column.last) {
    // an output unit's probability over the plane: of its class (softmax), or of class 1 (one sigmoid unit)
    const plane = message.plane;
    const k = column.units === 1 ? 1 : unit;
    const values = decode(plane.probabilities[k]);
    const n = plane.size;
    const color = CLASS_COLORS[k % CLASS_COLORS.length];
    picture = imageCanvas(n, n, column.units === 1 ? (i) => diverging(values[i]) : (i) => mix(WHITE, color, values[i] / 255));
  }
  if (picture) {
    drawScaled(context, picture, x - half, y - half, size, size);
    context.strokeStyle = "#8c959f";
    context.lineWidth = 1;
    context.strokeRect(x - half, y - half, size, size);
    page.drawnNodes.push({ x, y, size, picture, column, unit });
  } else {
    context.beginPath();
    context.arc(x, y, half, 0, 2 * Math.PI);
    context.fillStyle = column.last ? rgb(CLASS_COLORS[unit % CLASS_COLORS.length], 0.85) : "#eef2f5";
    context.fill();
    context.strokeStyle = "#8c959f";
    context.stroke();
  }
  if (message.plane && column.first) {
    context.fillStyle = "#1f2328";
    context.font = "12px system-ui, sans-serif";
    context.textAlign = "right";
    context.fillText(inputName(unit), x - half - 4, y + 4);
  }
}

function drawLinks(context, weights, columns, xs, ys, node) {
  if (!weights) return;
  let largest = 1e-9;
  weights.forEach((matrix) => matrix && matrix.forEach((row) => row.forEach((w) => { largest = Math.max(largest, Math.abs(w)); })));
  weights.forEach((matrix, layer) => {
    if (!matrix || !ys[layer].length || !ys[layer + 1].length) return;
    const [from, to] = [xs[layer] + node / 2, xs[layer + 1] - node / 2];
    ys[layer].forEach((y0, i) => ys[layer + 1].forEach((y1, j) => {
      const w = matrix[i][j];
      const strength = Math.sqrt(Math.abs(w) / largest);
      context.beginPath();
      context.moveTo(from, y0);
      context.bezierCurveTo((from + to) / 2, y0, (from + to) / 2, y1, to, y1);
      context.strokeStyle = rgb(w >= 0 ? BLUE : ORANGE, 0.15 + 0.75 * strength);
      context.lineWidth = 0.4 + 3.6 * strength;
      context.stroke();
    }));
  });
}

function drawCurves() {
  const canvas = $("curves");
  const context = canvas.getContext("2d");
  context.clearRect(0, 0, canvas.width, canvas.height);
  const history = page.history;
  if (!history.length) return;
  const half = canvas.height / 2;
  const losses = history.flatMap((h) => [h.loss, h.test_loss]).filter((v) => v !== null && v > 0);
  const low = Math.log10(Math.min(...losses)), high = Math.log10(Math.max(...losses));
  const span = Math.max(high - low, 0.3);
  plot(context, history, { top: 6, height: half - 24, key: "loss", label: "loss (log scale)",
    y: (v) => v > 0 ? (Math.log10(v) - low) / span : 0, ticks: logTicks(low, low + span), show: significant });
  plot(context, history, { top: half + 4, height: half - 24, key: "accuracy", label: "accuracy",
    y: (v) => v, ticks: [0, 0.5, 1].map((v) => [v, v]),
    show: (v) => v === null || v === undefined ? "–" : String(Number(v.toFixed(4))) });
}

function logTicks(low, high) {
  // [position on the axis (0…1), value] at round multiples of the powers of ten between 10^low and 10^high,
  // fewer the more decades the axis spans
  const ticks = [];
  const multiples = high - low > 2 ? [1] : high - low > 1 ? [1, 2, 5] : [1, 2, 3, 5, 7];
  for (let decade = Math.floor(low); decade <= Math.ceil(high); decade++) {
    for (const m of multiples) {
      const at = decade + Math.log10(m);
      if (at >= low - 1e-9 && at <= high + 1e-9) ticks.push([(at - low) / (high - low), m * 10 ** decade]);
    }
  }
  return ticks;
}

function stepTicks(last) {
  // 0 and the round numbers of steps (1, 2 or 5 times a power of ten) up to the last step, at most 5
  const raw = last / 4;
  const power = 10 ** Math.floor(Math.log10(Math.max(raw, 1)));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  const ticks = [];
  for (let v = 0; v <= last; v += step) ticks.push(v);
  return ticks;
}

function plot(context, history, { top, height, key, label, y, ticks, show }) {
  const left = 46, width = context.canvas.width - left - 10;
  const last = Math.max(1, history[history.length - 1].step);
  context.font = "10px system-ui, sans-serif";
  context.lineWidth = 1;
  for (const [at, value] of ticks) {  // the value axis: a gridline and its value at each tick
    const py = top + height - at * height;
    context.strokeStyle = "#eef2f5";
    context.beginPath(); context.moveTo(left, py); context.lineTo(left + width, py); context.stroke();
    context.fillStyle = "#5f6b76";
    context.textAlign = "right";
    context.fillText(show(value), left - 4, py + 3);
  }
  context.textAlign = "center";
  for (const value of stepTicks(last)) {  // the step axis
    const px = left + value / last * width;
    context.strokeStyle = "#d8dee4";
    context.beginPath(); context.moveTo(px, top + height); context.lineTo(px, top + height + 3); context.stroke();
    context.fillText(value.toLocaleString("en"), Math.min(px, left + width - 12), top + height + 13);
  }
  context.strokeStyle = "#d8dee4";
  context.strokeRect(left, top, width, height);
  context.fillStyle = "#5f6b76";
  context.font = "11px system-ui, sans-serif";
  context.textAlign = "left";
  context.fillText(`${label} by step`, left + 4, top + 12);
  for (const [name, dashed, color] of [[key, [], BLUE], [`test_${key}`, [5, 3], ORANGE]]) {
    context.beginPath();
    context.setLineDash(dashed);
    history.forEach((h, i) => {
      const v = h[name];
      if (v === null || v === undefined) return;
      const px = left + h.step / last * width;
      const py = top + height - Math.min(1, Math.max(0, y(v))) * height;
      if (i === 0) context.moveTo(px, py); else context.lineTo(px, py);
    });
    context.strokeStyle = rgb(color);
    context.lineWidth = 1.6;
    context.stroke();
    context.setLineDash([]);
  }
  const latest = history[history.length - 1];
  context.textAlign = "right";
  context.fillStyle = rgb(BLUE);
  context.fillText(`train ${show(latest[key])}`, left + width - 4, top + 12);
  context.fillStyle = rgb(ORANGE);
  context.fillText(`test ${show(latest[`test_${key}`])}`, left + width - 4, top + 26);
}

function drawGradients(message) {
  // one row a layer: a bar on a log axis fitted to the nonzero sizes; an exact zero gets no bar
  const canvas = $("gradients");
  const rows = message.gradients.filter((g) => g.size !== null);
  canvas.height = Math.max(60, 40 + rows.length * 24);
  const context = canvas.getContext("2d");
  context.clearRect(0, 0, canvas.width, canvas.height);
  context.font = "11px system-ui, sans-serif";
  context.fillStyle = "#5f6b76";
  $("gradient-text").textContent = gradientText(rows);
  if (!rows.length) {
    context.fillText("no gradient yet: take a step", 10, 20);
    return;
  }
  const logs = rows.filter((g) => g.size > 0).map((g) => Math.log10(g.size));
  const low = logs.length ? Math.floor(Math.min(...logs)) - 1 : 0;
  const high = logs.length ? Math.max(low + 2, Math.ceil(Math.max(...logs))) : 1;
  const left = 110, width = canvas.width - left - 70, bottom = 10 + rows.length * 24;
  const at = (size) => (Math.log10(size) - low) / (high - low) * width;
  if (logs.length) drawDecades(context, low, high, left, width, bottom, canvas.height);
  rows.forEach((g, i) => {
    const y = 10 + i * 24;
    context.fillStyle = "#5f6b76";
    context.textAlign = "right";
    context.fillText(g.layer, left - 6, y + 13);
    context.textAlign = "left";
    if (g.size === 0) {
      context.fillStyle = "#c62828";
      context.fillText("0 — no gradient", left + 4, y + 14);
      return;
    }
    const length = at(g.size);
    context.fillStyle = rgb(BLUE, 0.8);
    context.fillRect(left, y + 2, length, 16);
    context.fillStyle = "#1f2328";
    context.fillText(g.size.toExponential(1), left + length + 4, y + 14);
  });
}

function drawDecades(context, low, high, left, width, bottom, height) {
  // a gridline and its label at every power of ten from 10^low to 10^high
  const step = Math.max(1, Math.ceil((high - low) / 6));
  for (let decade = low; decade <= high; decade += step) {
    const x = left + (decade - low) / (high - low) * width;
    context.strokeStyle = "#d8dee4";
    context.beginPath();
    context.moveTo(x, 6);
    context.lineTo(x, bottom);
    context.stroke();
    context.fillStyle = "#5f6b76";
    context.textAlign = "center";
    context.fillText(`1e${decade}`, x, height - 4);
  }
}

function gradientText(rows) {
  // what the chart shows, in words: the layers without gradient, and the first against the last
  if (!rows.length) return "";
  const zero = rows.filter((g) => g.size === 0).map((g) => g.layer);
  const alive = rows.filter((g) => g.size > 0);
  if (!alive.length) return "Every layer's gradient is exactly zero: this minibatch gives no layer anything to learn.";
  let text = zero.length ? `Exactly zero for ${zero.join(", ")}: this minibatch gives ${zero.length === 1 ? "it" : "them"} nothing to learn. ` : "";
  if (alive.length > 1) {
    const [first, last] = [alive[0], alive[alive.length - 1]];
    const ratio = last.size / first.size;
    const times = (r) => r >= 100 ? Math.round(r).toLocaleString("en") : r.toFixed(1);
    text += ratio >= 1
      ? `The last layer's gradient (${last.layer}) is ${times(ratio)} times the first's (${first.layer}).`
      : `The first layer's gradient (${first.layer}) is ${times(1 / ratio)} times the last's (${last.layer}).`;
  }
  return text;
}

function drawUnits(message) {
  const holder = $("units");
  holder.replaceChildren();
  if (!message.units) {
    holder.textContent = "The first layer does not see the pixels directly.";
    return;
  }
  $("units-caption").textContent = message.units.shape[0] === 3
    ? "Each unit's (or filter's) weights over the pixels, in colour: each channel's weight as that channel's " +
      "brightness, mid-grey zero, brighter positive, darker negative."
    : "Each unit's (or filter's) weights over the pixels: blue positive, orange negative, white zero.";
  const size = message.units.shape[1] <= 5 ? 40 : 56;
  message.units.images.forEach((image, i) => holder.append(
    tile(pictureOf(decode(image), message.units.shape, diverging), String(i), size)));
}

function grey(byte) {
  return [byte, byte, byte];
}

function drawMaps(message) {
  const example = message.example;
  page.example = example.index;
  $("example-label").textContent = `test image ${example.index} (a ${example.label})`;
  const holder = $("maps");
  holder.replaceChildren();
  const shape = page.ready.image_shape;
  const input = document.createElement("div");
  input.className = "maps-row";
  input.append(tile(pictureOf(decode(example.image), shape, grey), "input", 64));
  holder.append(input);
  if (!example.maps.length) {
    const note = document.createElement("p");
    note.className = "hint";
    note.textContent = "Add a convolution block to see feature maps.";
    holder.append(note);
  }
  for (const block of example.maps) {
    const row = document.createElement("div");
    row.className = "maps-row";
    const title = document.createElement("span");
    title.textContent = `${block.layer}, ${block.maps.length} maps of ${block.shape.join("×")}`;
    row.append(title);
    for (const map of block.maps) row.append(tile(pictureOf(decode(map), [1, ...block.shape], diverging), "", 44));
    holder.append(row);
  }
}

function drawConfusion(message) {
  const names = page.ready.classes;
  const table = $("confusion");
  table.replaceChildren();
  const head = table.insertRow();
  head.append(document.createElement("th"));
  for (const name of names) {
    const cell = document.createElement("th");
    cell.textContent = name;
    head.append(cell);
  }
  message.confusion.forEach((counts, i) => {
    const row = table.insertRow();
    const label = document.createElement("th");
    label.textContent = names[i];
    row.append(label);
    const total = counts.reduce((a, b) => a + b, 0) || 1;
    counts.forEach((count, j) => {
      const cell = row.insertCell();
      cell.textContent = count;
      cell.style.background = rgb(i === j ? BLUE : ORANGE, 0.6 * count / total);
    });
  });
}

function drawMistakes(message) {
  const holder = $("mistakes");
  holder.replaceChildren();
  if (!message.mistakes.length) {
    holder.textContent = "No mistakes on the test samples.";
    return;
  }
  for (const mistake of message.mistakes) {
    const caption = `${mistake.true} → ${mistake.predicted} (${Math.round(100 * mistake.probability)}%)`;
    if (mistake.image) {
      holder.append(tile(pictureOf(decode(mistake.image), page.ready.image_shape, grey), caption, 56));
    } else {
      const line = document.createElement("div");
      line.className = "tile";
      line.textContent = `test sample ${mistake.index}: ${caption}`;
      holder.append(line);
    }
  }
}

function costColor(byte) {
  // low cost dark, high cost light, in bands that read like contour lines
  const band = Math.floor(byte / 256 * 14) / 13;
  return mix([20, 40, 90], [250, 230, 160], band);
}

function drawLesson(message) {
  const lesson = message.lesson;
  const text = $("lesson-text");
  const canvas = $("surface");
  const context = canvas.getContext("2d");
  const verdict = lesson.outcome;  // judged on the first steps (300), the same at every speed
  const outcome = !verdict ? "" : verdict.final
    ? ` After ${verdict.steps} steps: gradient descent <b>${verdict.outcome}</b>.`
    : ` So far, after ${verdict.steps} of the ${verdict.window} steps it is judged on: it <b>${verdict.outcome}</b>.`;
  if (!lesson.surface) {
    context.clearRect(0, 0, canvas.width, canvas.height);
    text.innerHTML = `The cost surface is drawn for one sigmoid neuron on two features; this data has ` +
      `${page.ready.classes.length} classes (softmax regression).${outcome}`;
    return;
  }
  const surface = lesson.surface;
  const values = decode(surface.log_cost);
  drawScaled(context, imageCanvas(surface.size, surface.size, (i) => costColor(values[i])), 0, 0, canvas.width, canvas.height);
  const reach = surface.reach;
  const at = ([w1, w2]) => [(w1 + reach) / (2 * reach) * canvas.width, (reach - w2) / (2 * reach) * canvas.height];
  context.strokeStyle = "rgba(255, 255, 255, 0.35)";
  context.beginPath();
  context.moveTo(canvas.width / 2, 0); context.lineTo(canvas.width / 2, canvas.height);
  context.moveTo(0, canvas.height / 2); context.lineTo(canvas.width, canvas.height / 2);
  context.stroke();
  context.beginPath();
  surface.path.forEach((point, i) => {
    const [x, y] = at(point);
    if (i === 0) context.moveTo(x, y); else context.lineTo(x, y);
  });
  context.strokeStyle = "rgba(255, 255, 255, 0.8)";
  context.lineWidth = 1.2;
  context.stroke();
  context.fillStyle = "white";
  for (const point of surface.path) {
    const [px, py] = at(point);
    context.fillRect(px - 1.5, py - 1.5, 3, 3);
  }
  const [x, y] = at(surface.weights);
  context.beginPath();
  context.arc(x, y, 5, 0, 2 * Math.PI);
  context.fillStyle = "#e53935";
  context.fill();
  context.fillStyle = "white";
  context.font = "12px system-ui, sans-serif";
  context.textAlign = "left";
  context.fillText(`w₂ ↑  (both axes from −${reach.toFixed(1)} to ${reach.toFixed(1)})`, 4, 14);
  context.textAlign = "right";
  context.fillText("w₁ →", canvas.width - 4, canvas.height / 2 - 4);
  text.innerHTML = `w = (${fixed(surface.weights[0], 3)}, ${fixed(surface.weights[1], 3)}), bias b = ` +
    `<b>${fixed(surface.bias, 3)}</b>, cost J = <b>${fixed(message.metrics.loss)}</b> ` +
    `(from ${fixed(surface.cost_range[0], 3)} to ${fixed(surface.cost_range[1], 3)} over the square); ` +
    `learning rate ${message.learning_rate}.${outcome}`;
}

wireControls();
setEnabled(false);
document.addEventListener("DOMContentLoaded", connect);  // after every deferred script (lessons.js, sample.js) has run
