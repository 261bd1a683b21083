"use strict";
// neuronet studio: CartPole, a policy network that learns from rewards. Loaded after studio.js,
// whose page state and helpers it uses. The run sends every episode's return (drawn as a curve
// with its 100-episode average) and, when the page asks, one greedy episode of the current
// policy frame by frame: the state, the push, and where the cart, the hinge and the pole's tip
// are, as neuronet.plots.cartpole_points computes them. The page animates those frames with the
// sizes neuronet.plots declares (sent once, in rl_ready): nothing of CartPole's geometry is typed here.

const FRAMES_PER_SECOND = 50;  // CartPole's own clock: one step is 0.02 s
const HOLD_LAST_MS = 900;      // the last frame (where it fell) stays a moment before the next episode

const rl = { ready: null, preparing: null, snapshot: null, episode: null, frame: 0, timer: null, animating: false,
  asked: false, labels: null };

function rlSees(message) {
  // every message from the server (studio.js's receive calls it after its own handlers)
  if (message.type === "hello") rlLayout();
  else if (message.type === "preparing") rlPreparing(message);
  else if (message.type === "ready") { rl.ready = null; rlStop(); rlLayout(); }
  else if (message.type === "rl_ready") rlReady(message);
  else if (message.type === "snapshot" && message.rl) rlSnapshot(message);
  else if (message.type === "episode") rlEpisode(message);
}

function rlPreparing(message) {
  rl.preparing = message.run;
  $("size-view").classList.remove("hidden");  // hidden while CartPole lacks gymnasium
  rl.ready = null;
  rlStop();
  rlLayout();
}

function rlLayout() {
  // CartPole counts episodes: the step buttons and the speed say so; back to steps for the other data
  const cartpole = page.datasets[$("dataset").value]?.kind === "rl";
  if (!rl.labels) {
    rl.labels = { step: $("step-batch").textContent, stepTitle: $("step-batch").title,
      speeds: [...$("speed").options].map((option) => option.textContent) };
  }
  $("step-batch").textContent = cartpole ? "Step episode" : rl.labels.step;
  $("step-batch").title = cartpole ? "train on one more episode" : rl.labels.stepTitle;
  [...$("speed").options].forEach((option, i) => {
    option.textContent = cartpole ? rl.labels.speeds[i].replace(/steps?\/s/, "episodes/s") : rl.labels.speeds[i];
  });
  for (const option of $("dataset").options) {
    if (page.datasets[option.value]?.kind === "rl") option.textContent = "CartPole (learn from rewards)";
  }
}

function rlChosen() {
  // CartPole picked: its policy is a network (lessons.js paces it: 20 episodes a second)
  if (page.datasets[$("dataset").value]?.kind !== "rl") return rlLayout();
  $("model-network").checked = true;
  updateLayout();
  rlLayout();
}

function rlReady(message) {
  rl.ready = message;
  rl.snapshot = null;
  rl.episode = null;
  rl.asked = false;
  rlStop();
  page.ready = null;  // studio.js's views wait for a network's run
  page.last = null;
  clearErrors();
  showDiagnoses([]);
  $("rl-missing").classList.add("hidden");
  $("cartpole-view").classList.remove("missing");
  $("returns-view").classList.remove("hidden");
  $("summary").textContent = message.summary;
  $("parameter-count").textContent = `${message.parameters.toLocaleString("en")} parameters ` +
    `(and ${message.value_parameters.toLocaleString("en")} in the value network)`;
  $("data-description").textContent = message.description;
  $("download").href = `/api/runs/${page.session}/model`;
  $("download").classList.remove("disabled");
  setEnabled(true);
  rlLayout();
  drawReturns();
  drawCartpole(null);
  rlAsk();  // the untrained policy, to begin with
  if (page.wantPlay) send({ type: "play" });
}

function rlSnapshot(message) {
  const ours = rl.ready ? message.run === rl.ready.run : message.run === rl.preparing;
  if (!ours) return;
  page.last = message;  // the Play button reads its state
  $("play").textContent = message.state === "playing" ? "Pause" : "Play";
  if (message.state === "diverged" || message.state === "error") {
    page.wantPlay = false;
    if (message.install) return rlMissing(message);
    showBanner(message.message);
  }
  if (message.returns === undefined) return;
  rl.snapshot = message;
  drawReturns();
  rlAskIfNew();
}

function rlMissing(message) {
  // no gymnasium: the view says how to install it
  hideBanner();
  setEnabled(false);
  const note = $("rl-missing");
  const command = document.createElement("code");
  command.textContent = message.install;
  note.replaceChildren("CartPole needs gymnasium, which is not installed here. Install it with ", command,
    ", then start neuronet studio again.");
  note.classList.remove("hidden");
  $("data-description").textContent = "";
  $("size-view").classList.add("hidden");
  $("cartpole-view").classList.add("missing");
  $("returns-view").classList.add("hidden");
}

// --- the episode: asked for, then animated frame by frame ------------------------------------------
function rlAsk() {
  rl.asked = true;
  send({ type: "episode" });
}

function rlAskIfNew() {
  // the next episode once the last one has been watched, if the policy has learned since
  const trained = rl.snapshot ? rl.snapshot.episode : 0;
  if (rl.ready && !rl.asked && !rl.animating && rl.episode && trained > rl.episode.after) rlAsk();
}

function rlEpisode(message) {
  if (!rl.ready || message.run !== rl.ready.run) return;
  rl.asked = false;
  rl.episode = message;
  rlAnimate();
}

function rlAnimate() {
  rlStop();
  rl.frame = 0;
  rl.animating = true;
  drawCartpole(rl.episode);
  rl.timer = setInterval(() => {
    if (rl.frame + 1 >= rl.episode.frames.length) {
      clearInterval(rl.timer);
      rl.timer = setTimeout(() => { rl.animating = false; rl.timer = null; rlAskIfNew(); }, HOLD_LAST_MS);
      return;
    }
    rl.frame += 1;
    drawCartpole(rl.episode);
  }, 1000 / FRAMES_PER_SECOND);
}

function rlStop() {
  clearInterval(rl.timer);
  clearTimeout(rl.timer);
  rl.timer = null;
  rl.animating = false;
}

function degrees(radians) {
  const value = Math.round(radians * 1800 / Math.PI) / 10 + 0;
  return `${value >= 0 ? "+" : "−"}${Math.abs(value).toFixed(1)}°`;
}

function signed(value) {
  return `${value < 0 ? "−" : ""}${Math.abs(value).toFixed(2)}`;
}

function drawCartpole(episode) {
  // the frame's points (cart, hinge, tip) in CartPole's units, drawn at the scale the track fits
  const canvas = $("cartpole");
  const context = canvas.getContext("2d");
  context.clearRect(0, 0, canvas.width, canvas.height);
  if (!rl.ready) return;
  const g = rl.ready.geometry;
  const scale = canvas.width / (2 * (g.track + 0.6));
  const ground = canvas.height - 0.3 * scale - 6;
  const at = ([x, y]) => [canvas.width / 2 + x * scale, ground - y * scale];
  const frame = episode ? episode.frames[rl.frame] : { cart: [0, 0], hinge: [0, g.cart_height / 4],
    tip: [0, g.cart_height / 4 + 2 * g.half_pole], action: null, state: [0, 0, 0, 0] };
  const line = (from, to, color, width, dash = []) => {
    context.beginPath();
    context.setLineDash(dash);
    context.moveTo(...at(from));
    context.lineTo(...at(to));
    context.strokeStyle = color;
    context.lineWidth = width;
    context.stroke();
    context.setLineDash([]);
  };
  line([-g.track, 0], [g.track, 0], "#1f2328", 1);  // the track, and its ends
  for (const end of [-g.track, g.track]) line([end, -0.15], [end, 0.15], "#1f2328", 2.5);
  const [hx, hy] = frame.hinge;
  for (const limit of [-g.angle_limit, g.angle_limit]) {  // past ±12° the episode ends
    line([hx, hy], [hx + 2 * g.half_pole * Math.sin(limit), hy + 2 * g.half_pole * Math.cos(limit)], "#8c959f", 1, [4, 3]);
  }
  const [cx] = frame.cart;
  const [left, top] = at([cx - g.cart_width / 2, g.cart_height / 2]);
  context.fillStyle = "#333";
  context.fillRect(left, top, g.cart_width * scale, g.cart_height * scale);
  const [tx, ty] = frame.tip;
  const length = Math.hypot(tx - hx, ty - hy) || 1;
  const across = [(g.pole_width / 2) * (ty - hy) / length, (g.pole_width / 2) * (hx - tx) / length];
  context.beginPath();
  [[hx + across[0], hy + across[1]], [tx + across[0], ty + across[1]], [tx - across[0], ty - across[1]],
    [hx - across[0], hy - across[1]]].forEach((point, i) => (i ? context.lineTo(...at(point)) : context.moveTo(...at(point))));
  context.closePath();
  context.fillStyle = rgb(ORANGE);
  context.fill();
  context.beginPath();
  context.arc(...at([hx, hy]), (g.pole_width / 2) * scale, 0, 2 * Math.PI);
  context.fillStyle = rgb(BLUE);
  context.fill();
  if (frame.action !== null) {  // the push: an arrow beside the cart, the way it pushes
    const side = frame.action === 1 ? 1 : -1;
    const start = cx + side * (g.cart_width / 2 + 0.05), end = start + side * 0.4;
    line([start, 0], [end, 0], "#2a9d4a", 2.5);
    const [ex, ey] = at([end, 0]);
    context.beginPath();
    context.moveTo(ex + side * 4, ey);
    context.lineTo(ex - side * 6, ey - 5);
    context.lineTo(ex - side * 6, ey + 5);
    context.fillStyle = "#2a9d4a";
    context.fill();
  }
  context.font = "12px system-ui, sans-serif";
  context.fillStyle = "#1f2328";
  context.textAlign = "left";
  const text = $("cartpole-text");
  if (!episode) {
    context.fillText("waiting for an episode…", 6, 14);
    text.textContent = "";
    return;
  }
  const steps = episode.frames.length - 1;
  context.fillText(`step ${rl.frame} of ${steps}   θ = ${degrees(frame.state[2])}   x = ${signed(frame.state[0])}`, 6, 14);
  context.textAlign = "right";
  context.fillText(frame.action === null ? "the end" : frame.action === 1 ? "push right" : "push left", canvas.width - 6, 14);
  text.textContent = `The policy after ${episode.after.toLocaleString("en")} training episode` +
    `${episode.after === 1 ? "" : "s"}: return ${episode.return.toFixed(0)} (${episode.ended}).`;
}

// --- the returns: each episode's, and their 100-episode average ----------------------------------
function drawReturns() {
  const canvas = $("returns");
  const context = canvas.getContext("2d");
  context.clearRect(0, 0, canvas.width, canvas.height);
  const text = $("returns-text");
  const snapshot = rl.snapshot;
  if (!rl.ready || !snapshot || !snapshot.returns.length) {
    context.font = "11px system-ui, sans-serif";
    context.fillStyle = "#5f6b76";
    context.fillText("no episode yet: press Play or Step episode", 10, 20);
    text.textContent = "";
    return;
  }
  const returns = snapshot.returns, averages = snapshot.averages, episodes = snapshot.episodes;
  const solved = rl.ready.solved_at;
  const left = 46, top = 24, width = canvas.width - left - 12, height = canvas.height - top - 26;
  const highest = Math.max(500, ...returns);
  const last = Math.max(1, snapshot.episode);
  const px = (episode) => left + (episode / last) * width;
  const py = (value) => top + height - (value / highest) * height;
  context.font = "10px system-ui, sans-serif";
  context.lineWidth = 1;
  for (let value = 0; value <= highest; value += 100) {  // the return axis
    context.strokeStyle = "#eef2f5";
    context.beginPath(); context.moveTo(left, py(value)); context.lineTo(left + width, py(value)); context.stroke();
    context.fillStyle = "#5f6b76";
    context.textAlign = "right";
    context.fillText(String(value), left - 4, py(value) + 3);
  }
  context.textAlign = "center";
  for (const value of stepTicks(last)) {  // the episode axis
    context.strokeStyle = "#d8dee4";
    context.beginPath(); context.moveTo(px(value), top + height); context.lineTo(px(value), top + height + 3); context.stroke();
    context.fillText(value.toLocaleString("en"), Math.min(px(value), left + width - 12), top + height + 13);
  }
  context.fillText("episode", left + width / 2, top + height + 24);
  context.strokeStyle = "#d8dee4";
  context.strokeRect(left, top, width, height);
  context.setLineDash([5, 3]);
  context.strokeStyle = "#8c959f";
  context.beginPath(); context.moveTo(left, py(solved)); context.lineTo(left + width, py(solved)); context.stroke();
  context.setLineDash([]);
  for (const [values, color, lineWidth] of [[returns, rgb(BLUE, 0.45), 1], [averages, rgb(ORANGE), 2]]) {
    context.beginPath();
    values.forEach((value, i) => (i ? context.lineTo(px(episodes[i]), py(value)) : context.moveTo(px(episodes[i]), py(value))));
    context.strokeStyle = color;
    context.lineWidth = lineWidth;
    context.stroke();
  }
  context.font = "11px system-ui, sans-serif";
  context.textAlign = "left";
  context.fillStyle = "#5f6b76";
  context.fillText(`solved: ${solved}`, left + 4, py(solved) + 12);
  context.fillStyle = rgb(BLUE);  // the legend, above the plot, with the latest values
  context.fillText(`— each episode's return: ${returns[returns.length - 1].toFixed(0)}`, left, 12);
  context.fillStyle = rgb(ORANGE);
  context.textAlign = "right";
  context.fillText(`— average of the last ${Math.min(rl.ready.window, snapshot.episode)}: ` +
    `${averages[averages.length - 1].toFixed(1)}`, left + width, 12);
  const count = `${snapshot.episode.toLocaleString("en")} episode${snapshot.episode === 1 ? "" : "s"} trained.`;
  text.textContent = snapshot.solved
    ? `${count} Solved at episode ${snapshot.solved.toLocaleString("en")}: the average of 100 episodes reached ${solved}.`
    : `${count} Solved is an average return of ${solved} over ${rl.ready.window} episodes.`;
}

function wireCartpole() {
  $("dataset").addEventListener("change", rlChosen);
  $("cartpole-replay").addEventListener("click", () => rl.episode && rlAnimate());
}

wireCartpole();
