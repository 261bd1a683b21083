"use strict";
// neuronet studio: one sample, by hand. "Step one sample" asks the run for one gradient step
// on one training sample; the server answers with the library's own trace of it (each layer's
// z and a on the way forward, the cost J, each ∂J/∂… on the way back) and the weights after
// the run's optimizer took that step. This file draws that answer in the lecture's notation.
// Every number comes from the server, to four significant digits.

const SAMPLE_ACTIVATIONS = { Sigmoid: "σ", Tanh: "tanh", ReLU: "ReLU", LeakyReLU: "leaky ReLU", Identity: "id" };

function sampleNumber(value) {
  if (value === null || value === undefined) return "–";
  if (value === 0) return "0";
  const text = Math.abs(value) >= 1e-3 && Math.abs(value) < 1e5 ? String(value) : value.toExponential(3);
  return text.replace("-", "−");
}

function sampleFactor(value) {
  // a number as a factor of a product: in parentheses when negative
  return value < 0 ? `(${sampleNumber(value)})` : sampleNumber(value);
}

function sampleElement(tag, className, html) {
  const element = document.createElement(tag);
  if (className) element.className = className;
  if (html !== undefined) element.innerHTML = html;
  return element;
}

function sampleTable(array, rowName, columnName) {
  // a vector as one row, a matrix (inputs × units) as rows and columns; larger than the
  // server sends one by one: its shape and norm
  const box = sampleElement("div", "sample-table");
  if (!array.values) {
    box.textContent = `${array.shape.join("×")} values, norm ${sampleNumber(array.norm)}`;
    return box;
  }
  const table = document.createElement("table");
  const [rows, columns] = array.shape.length === 2 ? array.shape : [1, array.values.length];
  const head = table.insertRow();
  head.append(document.createElement("th"));
  for (let j = 0; j < columns; j++) {
    const cell = document.createElement("th");
    cell.textContent = Array.isArray(columnName) ? columnName[j] : `${columnName}${j + 1}`;
    head.append(cell);
  }
  for (let i = 0; i < rows; i++) {
    const row = table.insertRow();
    const label = document.createElement("th");
    label.textContent = array.shape.length === 2 ? `${rowName}${i + 1}` : "";
    row.append(label);
    for (let j = 0; j < columns; j++) row.insertCell().textContent = sampleNumber(array.values[i * columns + j]);
  }
  box.append(table);
  return box;
}

function sampleLine(holder, formula, array, rowName = "in ", columnName = "") {
  // one step of the computation: its formula, then its numbers
  const line = sampleElement("div", "sample-line");
  line.append(sampleElement("div", "sample-formula", formula));
  if (array) line.append(sampleTable(array, rowName, columnName));
  holder.append(line);
}

function sampleNorms(holder, formula, arrays) {
  // a convolution network's layer: shapes and norms only
  const parts = arrays.filter(([, a]) => a).map(([name, a]) => `${name} ${a.shape.join("×")}, ‖·‖ = ${sampleNumber(a.norm)}`);
  holder.append(sampleElement("div", "sample-line sample-formula", `${formula}: ${parts.join("; ")}`));
}

function sampleLayerNames(layers) {
  // the lecture's superscripts: [ℓ] counts the Dense (or Conv2D) layers; a[0] is the input x
  let l = 0;
  return layers.map((layer) => {
    if (layer.kind === "dense" || layer.kind === "conv") l += 1;
    return l;
  });
}

function sampleStepWords(step) {
  const eta = `η = ${step.learning_rate}`;
  if (step.optimizer === "Adam") {
    return `Adam's step (t = ${step.iterations}): m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², ` +
      `θ ← θ − η m̂ / (√v̂ + ε), with ${eta} and g = ∂J/∂θ`;
  }
  if (step.momentum) {
    return `SGD with momentum μ = ${step.momentum}: v ← μv + ∂J/∂θ, θ ← θ − η v, with ${eta}`;
  }
  return `gradient descent: θ ← θ − η ∂J/∂θ, with ${eta}`;
}

function sampleNeuron(holder, message) {
  // one sigmoid neuron, as the lecture writes it
  const [dense, head] = message.layers;
  const x = dense.input.values, w = dense.parameters.weights.values, b = dense.parameters.bias.values[0];
  const z = dense.output.values[0], yHat = head.output.values[0], y = message.target;
  const g = dense.gradients.weights.values, gb = dense.gradients.bias.values[0];
  const terms = w.map((wi, i) => `${sampleFactor(wi)}·${sampleFactor(x[i])}`).join(" + ");
  const sub = (i) => (x.length <= 9 ? "₁₂₃₄₅₆₇₈₉"[i] : `<sub>${i + 1}</sub>`);
  const lines = [
    `z = w·x + b = ${x.length <= 4 ? `${terms} + ${sampleNumber(b)}` : "…"} = <b>${sampleNumber(z)}</b>`,
    `ŷ = σ(z) = 1 / (1 + e<sup>−z</sup>) = <b>${sampleNumber(yHat)}</b>, and the label y = <b>${y}</b>`,
    `J = −[y log ŷ + (1 − y) log(1 − ŷ)] = <b>${sampleNumber(message.cost)}</b>`,
    `∂J/∂z = ŷ − y = <b>${sampleNumber(head.grad_input.values[0])}</b>`,
    ...(x.length <= 4 ? g.map((gi, i) => `∂J/∂w${sub(i)} = (ŷ − y)·x${sub(i)} = ${sampleFactor(head.grad_input.values[0])}·${sampleFactor(x[i])} = <b>${sampleNumber(gi)}</b>`) : []),
    `∂J/∂b = ŷ − y = <b>${sampleNumber(gb)}</b>`,
  ];
  for (const text of lines) holder.append(sampleElement("div", "sample-formula", text));
  if (x.length > 4) sampleLine(holder, "∂J/∂w = (ŷ − y)·x", dense.gradients.weights, "x", "");
  holder.append(sampleElement("h3", "", "The step"));
  holder.append(sampleElement("div", "sample-formula", sampleStepWords(message.step) +
    (message.step.l2 ? ` (the L2 penalty adds α·w = ${message.step.l2}·w to ∂J/∂w)` : "")));
  const after = dense.updated.weights.values, bAfter = dense.updated.bias.values[0];
  holder.append(sampleElement("div", "sample-formula", x.length <= 4
    ? `w: (${w.map(sampleNumber).join(", ")}) → <b>(${after.map(sampleNumber).join(", ")})</b>; b: ${sampleNumber(b)} → <b>${sampleNumber(bAfter)}</b>`
    : `b: ${sampleNumber(b)} → <b>${sampleNumber(bAfter)}</b>; w below`));
  if (x.length > 4) sampleLine(holder, "w after the step", dense.updated.weights, "x", "");
}

function sampleNetwork(holder, message) {
  const layers = message.layers, ls = sampleLayerNames(layers);
  const sup = (l) => `<sup>[${l}]</sup>`;
  const dense = message.dense;
  holder.append(sampleElement("h3", "", dense ? "Forward: z = a·W + b, then a = g(z)"
    : "Forward: each layer's output (with a convolution, its shapes and norms ‖·‖)"));
  layers.forEach((layer, i) => {
    const l = ls[i];
    if (!dense) {
      sampleNorms(holder, `${layer.index}: ${layer.name}`, [["output", layer.output],
        ...Object.entries(layer.parameters || {}).map(([n, a]) => [n, a])]);
      return;
    }
    if (layer.kind === "dense") {
      const inputs = page.ready.features ? page.ready.features.map((_, k) => inputName(k)) : "x";
      if (l === 1) sampleLine(holder, `a${sup(0)} = x, the sample as the network reads it`, layer.input, "", inputs);
      sampleLine(holder, `z${sup(l)} = a${sup(l - 1)}·W${sup(l)} + b${sup(l)}`, layer.output, "", "");
    } else if (layer.kind === "activation") {
      sampleLine(holder, `a${sup(l)} = ${SAMPLE_ACTIVATIONS[layer.activation] || layer.name}(z${sup(l)})`, layer.output);
    } else if (layer.kind === "output") {
      sampleLine(holder, `ŷ = ${layer.name === "Softmax" ? "softmax" : "σ"}(z${sup(l)})`, layer.output, "",
        layer.name === "Softmax" ? page.ready.classes : "");
    }
  });
  holder.append(sampleElement("div", "sample-formula", message.output.length > 1
    ? `J = −log ŷ<sub>y</sub> = −log ŷ<sub>${message.label}</sub> = <b>${sampleNumber(message.cost)}</b> ` +
      `(y: the class ${message.label}; ŷ = (${message.output.map(sampleNumber).join(", ")}))`
    : `J = −[y log ŷ + (1 − y) log(1 − ŷ)] = <b>${sampleNumber(message.cost)}</b> (y = ${message.target})`));

  holder.append(sampleElement("h3", "", "Backward: the chain rule, layer by layer"));
  for (let i = layers.length - 1; i >= 0; i--) {
    const layer = layers[i], l = ls[i];
    if (!dense) {
      sampleNorms(holder, `${layer.index}: ${layer.name}`, [["∂J/∂input", layer.grad_input],
        ...Object.entries(layer.gradients || {}).map(([n, a]) => [`∂J/∂${n}`, a])]);
      continue;
    }
    if (layer.kind === "output") {
      sampleLine(holder, `∂J/∂z${sup(l)} = ŷ − y`, layer.grad_input);
    } else if (layer.kind === "activation") {
      const g = SAMPLE_ACTIVATIONS[layer.activation] || layer.name;
      sampleLine(holder, `∂J/∂z${sup(l)} = ∂J/∂a${sup(l)} ⊙ ${g}′(z${sup(l)})`, layer.grad_input);
    } else if (layer.kind === "dense") {
      sampleLine(holder, `∂J/∂W${sup(l)} = a${sup(l - 1)}ᵀ · ∂J/∂z${sup(l)} (rows: the inputs, columns: the units)`,
        layer.gradients.weights, "in ", "unit ");
      sampleLine(holder, `∂J/∂b${sup(l)} = ∂J/∂z${sup(l)}`, layer.gradients.bias);
      if (l > 1) sampleLine(holder, `∂J/∂a${sup(l - 1)} = ∂J/∂z${sup(l)} · W${sup(l)}ᵀ`, layer.grad_input);
    }
  }
  holder.append(sampleElement("h3", "", "The step"));
  holder.append(sampleElement("div", "sample-formula", sampleStepWords(message.step) +
    (message.step.l2 ? ` (the L2 penalty adds its gradient to ∂J/∂W)` : "")));
  layers.forEach((layer, i) => {
    if (!layer.updated) return;
    if (!dense) {
      sampleNorms(holder, `${layer.index}: ${layer.name} after the step`,
        Object.entries(layer.updated).map(([n, a]) => [n, a]));
      return;
    }
    sampleLine(holder, `W${sup(ls[i])} after the step (was ‖W‖ = ${sampleNumber(layer.parameters.weights.norm)})`,
      layer.updated.weights, "in ", "unit ");
    sampleLine(holder, `b${sup(ls[i])} after the step`, layer.updated.bias);
  });
}

function sampleTaken(message) {
  if (!page.ready || message.run !== page.ready.run) return;
  const panel = $("sample-view");
  const body = sampleElement("div", "sample-body");
  const title = sampleElement("h2", "", `One sample, by hand: training sample ${message.index}, class ${message.label}`);
  const close = sampleElement("button", "small", "×");
  close.id = "sample-close";
  close.title = "close";
  close.addEventListener("click", () => panel.classList.add("hidden"));
  title.append(" ", close);
  const raw = message.raw;
  if (raw.image) {
    const picture = pictureOf(decode(raw.image), raw.shape, grey);
    body.append(tile(picture, "the sample", 56));
  } else if (page.ready.kind === "plane") {
    body.append(sampleElement("p", "hint", `The point (${raw.values.map(sampleNumber).join(", ")}) on the plane, ` +
      (page.ready.features && page.ready.features.join() !== "x1,x2"
        ? `standardized, then its features ${page.ready.features.map((_, k) => inputName(k)).join(", ")} for the network below.`
        : "standardized for the network below.")));
  }
  if (page.ready.model === "logistic" && message.layers.length === 2) sampleNeuron(body, message);
  else sampleNetwork(body, message);
  body.append(sampleElement("p", "readout", `J on this sample: <b>${sampleNumber(message.cost)}</b> before the step, ` +
    `<b>${sampleNumber(message.cost_after)}</b> after it. "Copy as Python" and "Download model" include this step.`));
  panel.replaceChildren(title, body);
  panel.classList.remove("hidden");
}

function sampleReset() {
  const panel = $("sample-view");
  if (panel) panel.classList.add("hidden");
}

$("step-sample").addEventListener("click", () => { page.wantPlay = false; send({ type: "sample", value: null }); });

// --- feature inputs on the 2-D sets: x₁, x₂, x₁², x₂², x₁x₂, sin x₁, sin x₂ as input neurons --------
const FEATURES = [["x1", "x₁"], ["x2", "x₂"], ["x1^2", "x₁²"], ["x2^2", "x₂²"], ["x1*x2", "x₁x₂"],
  ["sin(x1)", "sin x₁"], ["sin(x2)", "sin x₂"]];

function inputName(unit) {
  // the input neuron's feature, as the lecture writes it
  const features = (page.ready && page.ready.features) || ["x1", "x2"];
  const found = FEATURES.find(([name]) => name === features[unit]);
  return found ? found[1] : `x${unit + 1}`;
}

function chosenFeatures() {
  return FEATURES.map(([name]) => name).filter((name) => $(`feature-${name}`).checked);
}

function buildFeatures() {
  const holder = $("features");
  for (const [name, shown] of FEATURES) {
    const label = sampleElement("label", "choice feature");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.id = `feature-${name}`;
    box.checked = name === "x1" || name === "x2";
    box.addEventListener("change", () => {
      if (!chosenFeatures().length) box.checked = true;  // at least one input
      scheduleSend();
    });
    label.append(box, ` ${shown}`);
    holder.append(label);
  }
  $("new-data").addEventListener("click", () => {
    $("seed").value = number($("seed").value) + 1;
    scheduleSend();
  });
}

// --- hovering a neuron of the drawing shows its map large -----------------------------------------
function neuronCaption(node) {
  const column = node.column;
  if (column.first) return `input ${inputName(node.unit)} over the plane`;
  if (column.last) return column.units === 1 ? "the output: P(class 1) over the plane" : `output ${node.unit + 1} over the plane`;
  const xs = [...new Set(page.drawnNodes.map((n) => n.x))].sort((a, b) => a - b);  // a column of the drawing a layer
  return `neuron ${node.unit + 1} of hidden layer ${xs.indexOf(node.x)}`;
}

function hoverNeuron(event) {
  const canvas = $("network"), zoom = $("neuron-zoom");
  const box = canvas.getBoundingClientRect();
  const x = (event.clientX - box.left) * canvas.width / box.width;
  const y = (event.clientY - box.top) * canvas.height / box.height;
  const node = (page.drawnNodes || []).find((n) => Math.abs(n.x - x) <= n.size / 2 && Math.abs(n.y - y) <= n.size / 2);
  if (!node) {
    zoom.classList.add("hidden");
    return;
  }
  const large = zoom.querySelector("canvas");
  drawScaled(large.getContext("2d"), node.picture, 0, 0, large.width, large.height);
  zoom.querySelector("span").textContent = neuronCaption(node);
  zoom.style.left = `${canvas.offsetLeft + node.x + node.size / 2 + 8}px`;
  zoom.style.top = `${canvas.offsetTop + Math.max(0, node.y - 100)}px`;
  zoom.classList.remove("hidden");
}

buildFeatures();
$("network").addEventListener("mousemove", hoverNeuron);
$("network").addEventListener("mouseleave", () => $("neuron-zoom").classList.add("hidden"));
