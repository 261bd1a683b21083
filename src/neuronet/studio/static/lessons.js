"use strict";
// neuronet studio: the lessons, the page's link, its pace and the threshold of two-class tasks.
// Loaded after studio.js, whose page state and helpers it uses. Each lesson sets the page
// up, says what to look at and what to try, and watches the run's messages for the moment
// the learner has seen it. The page's address holds the lesson and every setting
// (#lesson=…&dataset=…&hidden=8,8…), so that a link opens the same page in another studio.

const PACE = { plane: 60, neuron: 20, rl: 20 };  // default steps a second: the eye follows the 2-D sets (CartPole: episodes)
const LINK_FIELDS = ["dataset", "samples", "noise", "test_fraction", "seed", "model", "hidden", "activation", "conv",
  "learning_rate", "batch_size", "optimizer", "l2", "dropout", "features"];
const CONTROL_OF = { test_fraction: "test-fraction", learning_rate: "learning-rate", batch_size: "batch-size" };

const LESSONS = [
  {
    name: "neuron", title: "One neuron: the boundary is a line",
    setup: { dataset: "moons", model: "neuron", learning_rate: "1" },
    text: "One sigmoid neuron predicts class 1 where w₁x₁ + w₂x₂ + b > 0: on one side of a straight line. " +
      "Press Play and watch the line turn while the white dots walk down the cost surface. " +
      "No line separates the two moons: see which points it has to get wrong.",
    sees: (run) => run.dataset === "moons" && run.model === "neuron" && run.testAccuracy >= 0.85,
    seenText: (run) => `a straight line scores ${fixed(run.testAccuracy, 2)} on the test moons`,
  },
  {
    name: "step-size", title: "The step size: crawl, converge, oscillate, diverge",
    setup: { dataset: "moons", model: "neuron", learning_rate: "0.01" },
    text: "The learning rate η is the length of each step down the cost surface. The verdict is judged on the first " +
      "300 steps, at any speed. Try 0.01, 1, 30 and 1000, pressing Play after each: it crawls, converges, " +
      "overshoots and oscillates, diverges.",
    sees: (run, lesson) => lesson.verdicts.size >= 3,
    progress: (run, lesson) => lesson.verdicts.size
      ? `Verdicts so far: ${[...lesson.verdicts].join(", ")} (${lesson.verdicts.size} of 3).` : "",
    seenText: (run, lesson) => `three verdicts: ${[...lesson.verdicts].join(", ")}`,
  },
  {
    name: "threshold", title: "Threshold and accuracy",
    setup: { dataset: "moons", model: "network", hidden: "4", activation: "tanh", learning_rate: "0.03" },
    text: "The network gives each point a probability p of class 1 and predicts class 1 where p is above the " +
      "threshold, 0.5 unless you move it. Train a little, pause, then move the threshold under Prediction: the " +
      "boundary moves and the accuracy changes, though no weight has changed.",
    sees: (run) => run.threshold !== 0.5 && run.atHalf !== null && run.accuracyMoved,
    seenText: (run) => {
      const [split, now, before] = run.atHalf.test_accuracy !== run.testAccuracy
        ? ["test", run.testAccuracy, run.atHalf.test_accuracy] : ["training", run.trainAccuracy, run.atHalf.accuracy];
      return `${split} accuracy ${fixed(now, 3)} at threshold ${run.threshold}, ${fixed(before, 3)} at 0.5`;
    },
  },
  {
    name: "hidden-layer", title: "A hidden layer and its parameter count",
    setup: { dataset: "circles", model: "network", hidden: "", activation: "tanh", learning_rate: "0.03" },
    text: "Without a hidden layer the network is one neuron, and no line separates the circles. Add a hidden " +
      "layer with + and count its parameters by hand: from n inputs to k units, n·k weights and k biases. " +
      "The count is spelled out below and in the Size table.",
    sees: (run) => run.hidden.length > 0 && run.byHand !== null,
    progress: (run) => run.byHand ? `By hand: ${run.byHand}.` : "",
    seenText: (run) => `${run.hidden.length} hidden layer${run.hidden.length > 1 ? "s" : ""}, counted by hand`,
  },
  {
    name: "backprop", title: "Backpropagation, one sample by hand",
    setup: { dataset: "xor", model: "network", hidden: "2", activation: "sigmoid", optimizer: "sgd",
      learning_rate: "0.3", batch_size: "1" },
    text: "Backpropagation is the chain rule run backwards: from ∂J/∂z at the output, each layer gives " +
      "∂J/∂W = aᵀ·∂J/∂z for its weights and ∂J/∂a = ∂J/∂z·Wᵀ for the layer before. Press “Step one sample” and " +
      "follow one sample's numbers through this small network; work one weight's gradient out by hand.",
    sees: (run, lesson) => lesson.sampleStepped,
    seenText: () => "one sample stepped through forward and backward",
  },
  {
    name: "vanishing-gradient", title: "The vanishing gradient",
    setup: { dataset: "circles", model: "network", hidden: "8,8,8,8,8", activation: "sigmoid", optimizer: "sgd",
      learning_rate: "0.1" },
    text: "A sigmoid passes back at most a quarter of the gradient it gets (σ′ ≤ 0.25), so the first layers of a " +
      "deep sigmoid network barely learn. Press Play and read the gradient chart until the first layer's gradient " +
      "is 100 times smaller than the last's, then switch the activation to ReLU and play again.",
    sees: (run, lesson) => lesson.vanished && run.activation === "relu" && run.step > 0,
    progress: (run, lesson) => lesson.vanished
      ? `Seen with sigmoid: the first layer's gradient ${Math.round(lesson.vanished).toLocaleString("en")} times ` +
        "smaller than the last's. Now choose ReLU." : "",
    seenText: (run, lesson) => `sigmoid: ${Math.round(lesson.vanished).toLocaleString("en")} times smaller; ` +
      `ReLU: ${run.ratio ? `${run.ratio < 10 ? run.ratio.toFixed(1) : Math.round(run.ratio)} times` : "no vanishing"}`,
  },
  {
    name: "softmax", title: "Softmax over several classes",
    setup: { dataset: "spiral", model: "network", hidden: "8,8", activation: "tanh", learning_rate: "0.03",
      optimizer: "momentum", batch_size: "10" },
    text: "Three classes, three output units: softmax turns their z into probabilities that add up to 1, and the " +
      "network predicts the largest. Each output square shows one class's probability over the plane. Press Play " +
      "and watch the three arms win their regions, one turn at a time.",
    sees: (run) => run.classes === 3 && run.testAccuracy > 0.9,
    seenText: (run) => `three classes, test accuracy ${fixed(run.testAccuracy, 3)}`,
  },
  {
    name: "convolution", title: "Sharing weights on digits",
    setup: { dataset: "digits", model: "network", conv: "", hidden: "32", activation: "relu", learning_rate: "0.03",
      optimizer: "momentum" },
    text: "A Dense layer gives every pixel its own weight for every unit; a 3×3 convolution slides the same nine " +
      "weights over the whole image, so a stroke is found wherever it is. Add a convolution block with + and " +
      "compare the parameter count, the test accuracy and the feature maps.",
    sees: (run) => run.conv.length > 0 && run.testAccuracy >= 0.95,
    seenText: (run) => `${run.conv.length} convolution block${run.conv.length > 1 ? "s" : ""}, ` +
      `test accuracy ${fixed(run.testAccuracy, 3)}`,
  },
];

const lessons = { current: null, paceChosen: false, threshold: 0.5, note: "" };

function lessonNamed(name) {
  return LESSONS.find((lesson) => lesson.name === name) || null;
}

// --- the link: every setting in the address's fragment -------------------------------------
function linkParameters() {
  const chosen = settings();
  const parameters = new URLSearchParams();
  if (lessons.current) parameters.set("lesson", lessons.current.name);
  for (const field of LINK_FIELDS) {
    if (!(field in chosen)) continue;
    const value = chosen[field];
    parameters.set(field, Array.isArray(value) ? value.join(",") : value === null ? "" : String(value));
  }
  parameters.set("speed", $("speed").value || "max");
  if (lessons.threshold !== 0.5) parameters.set("threshold", String(lessons.threshold));
  return parameters;
}

function writeLink() {
  // the address follows the page; replaceState: no history entry, no reload, the server never sees it
  const fragment = String(linkParameters()).replace(/%2C/g, ",");  // hidden=8,8 reads better than 8%2C8
  history.replaceState(null, "", `${location.pathname}${location.search}#${fragment}`);
}

function setControl(field, value) {
  // one control from a link's text; a select gains an option it lacks (a learning rate of 0.05)
  if (field === "hidden" || field === "conv") {
    setSizes(field, value === "" ? [] : value.split(",").map((size) => size.trim()));
    return;
  }
  if (field === "features") {  // the input neurons on the plane: the named ones ticked, the others not
    const named = value.split(",").map((name) => name.trim());
    document.querySelectorAll("#features input[type=checkbox]").forEach((box) => {
      box.checked = named.includes(box.id.replace("feature-", ""));
    });
    return;
  }
  if (field === "model") {
    const radio = $(`model-${value}`);
    if (radio) radio.checked = true;
    return;
  }
  const control = $(CONTROL_OF[field] || field);
  if (!control) return;
  if (control.tagName === "SELECT" && ![...control.options].some((option) => option.value === value)) {
    if (["activation", "optimizer", "dataset"].includes(field)) return;  // the server's names only
    control.append(new Option(value, value));
  }
  control.value = value;
}

function applyParameters(parameters, defaults) {
  // the page as the parameters say, from the defaults; the dataset first, as its own defaults follow it
  applyDefaults(defaults);
  const dataset = parameters.get("dataset");
  lessons.note = "";
  if (dataset !== null && page.datasets[dataset]) {
    $("dataset").value = dataset;
    datasetChosen();
  } else if (dataset !== null) {
    lessons.note = `This link names the dataset “${dataset}”, which the studio that made it was given with ` +
      `neuronet studio --data: a dataset's files cannot travel in a link. Start this studio with --data and ` +
      `that folder or table to open it here; until then the page shows ${$("dataset").value}.`;
  }
  for (const field of LINK_FIELDS) {
    if (field !== "dataset" && parameters.has(field) && (dataset === null || page.datasets[dataset])) {
      setControl(field, parameters.get(field));
    }
  }
  if (parameters.has("speed")) {
    setControl("speed", parameters.get("speed") === "max" ? "" : parameters.get("speed"));
    lessons.paceChosen = true;
  } else {
    lessons.paceChosen = false;
    $("speed").value = String(defaultPace());
  }
  const threshold = Number(parameters.get("threshold"));
  setThreshold(threshold > 0 && threshold < 1 ? threshold : 0.5);
  showValues();
  updateLayout();
}

function openLink(defaults) {
  // called once the server has said hello: the page the address describes, and its lesson
  lessons.defaults = defaults;
  const select = $("lesson");
  for (const lesson of LESSONS) select.append(new Option(`${LESSONS.indexOf(lesson) + 1}. ${lesson.title}`, lesson.name));
  const parameters = new URLSearchParams(location.hash.slice(1));
  const lesson = lessonNamed(parameters.get("lesson"));
  if (lesson) {
    const fromLesson = new URLSearchParams(lesson.setup);
    for (const [field, value] of parameters) if (field !== "lesson") fromLesson.set(field, value);
    startLesson(lesson, fromLesson);
  } else {
    showLesson();
    if (parameters.has("dataset")) applyParameters(parameters, defaults);
    else $("speed").value = String(defaultPace());
  }
  showNote();
}

function showNote() {
  $("link-note").textContent = lessons.note;
  $("link-note").classList.toggle("hidden", !lessons.note);
}

// --- the pace -------------------------------------------------------------------------------
function defaultPace() {
  // steps a second the eye can follow on the 2-D sets (the single neuron slower); images and tables as fast as they go
  const dataset = page.datasets[$("dataset").value];
  if (dataset && dataset.kind === "rl") return PACE.rl;
  if (!dataset || dataset.kind !== "plane") return "";
  return chosenModel() === "neuron" ? PACE.neuron : PACE.plane;
}

function sendPace() {
  send({ type: "speed", value: number($("speed").value) });
}

function paceFollows() {
  // a new dataset or model takes its default speed, unless the learner has chosen one
  if (!lessons.paceChosen) {
    $("speed").value = String(defaultPace());
    sendPace();
  }
}

// --- the threshold of two-class tasks ---------------------------------------------------------
function setThreshold(value) {
  lessons.threshold = value;
  $("threshold").value = value;
  $("threshold-value").textContent = value.toFixed(2);
}

function thresholdMoved() {
  setThreshold(Number($("threshold").value));
  send({ type: "threshold", value: lessons.threshold });
  writeLink();
}

function showPrediction(ready) {
  const binary = ready.classes.length === 2;
  $("prediction").classList.toggle("hidden", !binary);
  if (binary) $("threshold-class").textContent = ready.classes[1];
  if (binary && lessons.threshold !== 0.5) send({ type: "threshold", value: lessons.threshold });
}

// --- the lessons --------------------------------------------------------------------------------
function startLesson(lesson, parameters) {
  lessons.current = lesson ? { ...lesson, verdicts: new Set(), vanished: 0, sampleStepped: false, seen: null } : null;
  $("lesson").value = lesson ? lesson.name : "";
  if (lesson) {
    lessons.threshold = 0.5;
    applyParameters(parameters || new URLSearchParams(lesson.setup), lessons.defaults);
  }
  showLesson();
}

function lessonChosen() {
  startLesson(lessonNamed($("lesson").value));
  showNote();
  sendSettings();
  sendPace();
}

function byHand(ready) {
  // a stack of Dense layers counted as by hand: n·k weights and k biases from n inputs to k units
  const layers = ready.layers;
  if (layers.some((layer) => layer.kind === "conv" || !layer.units)) return null;
  const terms = [], sums = [];
  for (let i = 1; i < layers.length; i++) {
    const [n, k] = [layers[i - 1].units, layers[i].units];
    terms.push(`${n}·${k} + ${k}`);
    sums.push(n * k + k);
  }
  const total = sums.reduce((a, b) => a + b, 0);
  return total === ready.parameters ? `${terms.join(", ")} = ${sums.join(" + ")} = ${total} parameters` : null;
}

function runFacts(message) {
  // what the checks read: the run's settings, and what the last snapshot shows
  const chosen = settings();
  const ready = page.ready;
  const metrics = message.metrics || {};
  const alive = (message.gradients || []).filter((g) => g.size > 0);
  const atHalf = message.at_half || null;
  return {
    dataset: ready.dataset, model: ready.model === "logistic" ? "neuron" : "network", classes: ready.classes.length,
    hidden: chosen.hidden || [], conv: chosen.conv || [], activation: chosen.activation, step: message.step || 0,
    testAccuracy: metrics.test_accuracy ?? null, trainAccuracy: metrics.accuracy ?? null, threshold: message.threshold ?? 0.5, atHalf,
    accuracyMoved: atHalf !== null && (atHalf.test_accuracy !== metrics.test_accuracy || atHalf.accuracy !== metrics.accuracy),
    ratio: alive.length > 1 ? alive[alive.length - 1].size / alive[0].size : null,
    byHand: byHand(ready),
  };
}

function lessonSees(message) {
  // every message from the run: the current lesson notes what the learner has seen
  if (message.type === "ready") showPrediction(message);
  const lesson = lessons.current;
  if (!lesson || !page.ready || (message.type !== "ready" && message.type !== "snapshot")) return;
  if (message.type === "snapshot" && (message.run !== page.ready.run || message.metrics === undefined)) return;
  const run = runFacts(message);
  const verdict = message.lesson && message.lesson.outcome;
  if (verdict && verdict.final) lesson.verdicts.add(verdict.outcome);
  if (run.activation === "sigmoid" && run.ratio >= 100 && run.hidden.length >= 2) lesson.vanished = Math.max(lesson.vanished, run.ratio);
  if (!lesson.seen && lesson.sees(run, lesson)) lesson.seen = lesson.seenText(run, lesson);
  lesson.last = run;
  showLesson();
}

function showLesson() {
  const lesson = lessons.current;
  document.body.classList.toggle("in-lesson", Boolean(lesson));
  $("lesson-words").textContent = lesson ? lesson.text : "Choose a lesson: it sets the page up, says what to look " +
    "at and what to try, and marks when you have seen it. The address holds the page's settings: share it.";
  const progress = lesson && lesson.progress && lesson.last ? lesson.progress(lesson.last, lesson) : "";
  $("lesson-progress").textContent = progress;
  const seen = $("lesson-seen");
  seen.textContent = lesson && lesson.seen ? `seen it ✓ ${lesson.seen}` : lesson ? "not seen yet" : "";
  seen.classList.toggle("done", Boolean(lesson && lesson.seen));
}

function stepSampleClicked(event) {
  // "Step one sample" (a button with the id step-sample): the backpropagation lesson's sign
  if (event.target.closest && event.target.closest("#step-sample") && lessons.current) {
    lessons.current.sampleStepped = true;
    if (lessons.current.name === "backprop" && !lessons.current.seen) lessons.current.seen = lessons.current.seenText();
    showLesson();
  }
}

function wireLessons() {
  $("lesson").addEventListener("change", lessonChosen);
  $("threshold").addEventListener("input", () => setThreshold(Number($("threshold").value)));
  $("threshold").addEventListener("change", thresholdMoved);
  $("speed").addEventListener("change", () => { lessons.paceChosen = true; writeLink(); });
  $("dataset").addEventListener("change", () => { lessons.note = ""; showNote(); paceFollows(); });
  for (const id of ["model-network", "model-neuron"]) $(id).addEventListener("change", paceFollows);
  document.addEventListener("click", stepSampleClicked, true);
}

wireLessons();
