"""Figures that show what a network learned (matplotlib, headless).

Each function returns a matplotlib Figure; ``save(fig, path)`` writes it as PNG. The
figures are made without pyplot, so nothing here opens a window or changes the
backend: the command line writes them to files, and a notebook shows a figure that a
cell returns (or passes to ``display``) as a picture, once, whatever its backend.
"""

from __future__ import annotations

import io
import os

import matplotlib
import numpy as np
from matplotlib import patches
from matplotlib.figure import Figure
from sklearn.metrics import confusion_matrix as _confusion

from .callbacks import History


def save(fig, path):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    return path


class NotebookFigure(Figure):
    """A Figure that a notebook shows as a PNG (``_repr_png_``), drawn by Agg, with no
    pyplot state: it shows where a cell returns it, and nowhere else."""

    def _repr_png_(self):
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        return buffer.getvalue()


def _subplots(rows=1, cols=1, figsize=None, layout=None, **options):
    """A new Figure and its grid of Axes, as ``pyplot.subplots`` gives, without pyplot."""
    fig = NotebookFigure(figsize=figsize, layout=layout)
    return fig, fig.subplots(rows, cols, **options)


SIGNED = "RdBu_r"  # weights: red positive, blue negative, white zero


LOG_SCALE_SPAN = 20  # a cost curve whose largest value is this many times its smallest is drawn on a log scale

# What the train and held-out curves measure (History.measured): a full-batch iteration that
# measures both after its step shows one model; an epoch of minibatches averages the training
# cost over its minibatches while the weights change, and scores the held-out data at its end
CURVE_LABELS = {"after_step": ("", ""),
                "before_step": (" (before each step)", " (after it)"),
                "epoch_mean": (" (mean over the epoch's minibatches)", " (at the epoch's end)")}


# Curves of at most this many steps are drawn with a marker at each (one epoch is a point, not a line)
FEW_STEPS = 12


def learning_curves(history, title="Learning curves", step=None, held_out="validation", measured=None):
    """Loss and accuracy per ``step``, on the training data and the held-out data, side by side.

    ``history`` is the :class:`~neuronet.callbacks.History` that ``fit`` returns (it
    knows its step and how it was measured) or its dict of lists, ``history.history``.
    ``step`` names one entry of the history: "epoch" for minibatch training, "iteration"
    for full-batch gradient descent, where each step sees all the data once.
    ``held_out`` names the data of the history's ``val_`` entries: "validation", or
    "test" when the held-out data is the test set. ``measured`` says when the training
    figures were measured (:class:`neuronet.callbacks.History`); by default, as the step
    suggests: over an epoch's minibatches, or after an iteration's step.
    """
    if isinstance(history, History):
        step, measured = step or history.step, measured or history.measured
        history = history.history
    step = step or "epoch"
    metrics = [m for m in ("loss", "accuracy") if m in history]
    fig, axes = _subplots(1, len(metrics), figsize=(5.5 * len(metrics), 4), squeeze=False)
    measured = measured or ("epoch_mean" if step == "epoch" else "after_step")
    train, tested = CURVE_LABELS[measured]
    for ax, metric in zip(axes[0], metrics):
        epochs = np.arange(1, len(history[metric]) + 1)
        marker = "o" if len(epochs) <= FEW_STEPS else None  # a curve of one or a few points shows its points
        ax.plot(epochs, history[metric], label=f"train{train}", color="tab:blue", marker=marker)
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], label=f"{held_out}{tested}", color="tab:orange", marker=marker)
        ax.set_xlabel(step)
        ax.set_ylabel("cost (cross-entropy)" if metric == "loss" else "accuracy")
        drawn = np.concatenate([history[key] for key in (metric, f"val_{metric}") if key in history])
        if metric == "loss" and drawn.min() > 0 and drawn.max() > LOG_SCALE_SPAN * drawn.min():
            ax.set_yscale("log")  # a cost that spans decades: its late rises and falls stay visible
            ax.set_ylabel("cost (cross-entropy, log scale)")
        ax.set_title(f"{'Cost' if metric == 'loss' else 'Accuracy'} per {step}")
        if marker:
            ax.set_xticks(epochs)
        else:
            ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def confusion_matrix(y_true, y_pred, class_names, title="Confusion matrix"):
    """Counts of true class (rows) against predicted class (columns)."""
    labels = np.arange(len(class_names))
    counts = _confusion(y_true, y_pred, labels=labels)
    size = max(4.0, 0.5 * len(class_names) + 2)
    fig, ax = _subplots(figsize=(size + 1, size))
    image = ax.imshow(counts, cmap="Blues")
    fig.colorbar(image, ax=ax, label="samples")
    ax.set_xticks(labels, class_names, rotation=45 if len(class_names) > 4 else 0, ha="right" if len(class_names) > 4 else "center")
    ax.set_yticks(labels, class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    threshold = counts.max() / 2 if counts.size else 0
    for (row, col), value in np.ndenumerate(counts):
        ax.text(col, row, str(value), ha="center", va="center", color="white" if value > threshold else "black")
    ax.set_title(f"{title} (accuracy {np.trace(counts) / max(counts.sum(), 1):.3f})")
    fig.tight_layout()
    return fig


def _grid(count):
    cols = int(np.ceil(np.sqrt(count)))
    return int(np.ceil(count / cols)), cols


def _as_picture(array):
    """(C, H, W) → what imshow draws: (H, W) grey or (H, W, 3) colour, scaled to [0, 1]."""
    array = np.asarray(array, dtype=np.float64)
    low, high = array.min(), array.max()
    array = (array - low) / (high - low) if high > low else np.zeros_like(array)
    return array[0] if array.shape[0] == 1 else array.transpose(1, 2, 0)


CHANNELS = {3: ("R", "G", "B")}


def _panels(rows, cols, figsize, **options):
    """A grid of panels for pictures: framed, without ticks (hiding whole axes instead
    makes a figure of many panels several times slower to lay out)."""
    return _subplots(rows, cols, figsize=figsize, squeeze=False, subplot_kw={"xticks": [], "yticks": []},
                     **options)


def _hide_unused(axes, used):
    for ax in axes.ravel()[used:]:
        ax.set_visible(False)


def weight_images(weights, names, title, meaning):
    """Weights over an image, one picture per unit (and per colour channel), all on one
    signed colour scale centred at zero (white), with a colour bar that says what the
    colours mean.

    ``weights`` is (units, channels, height, width); ``names`` gives each unit's title
    ("class 3", "unit 5"); ``meaning`` says under the title what the colours do
    ("red pushes towards dog, blue towards cat").
    """
    weights = np.asarray(weights, dtype=np.float64)
    units, channels = weights.shape[:2]
    channel_names = CHANNELS.get(channels, [f"channel {c}" for c in range(channels)])
    per_row = int(np.ceil(np.sqrt(units)))
    rows, cols = int(np.ceil(units / per_row)), per_row * channels
    fig, axes = _panels(rows, cols, (max(7.0, 1.5 * cols + 1.4), 1.45 * rows + 1.2))
    _hide_unused(axes, units * channels)
    limit = float(np.abs(weights).max()) or 1.0
    for unit in range(units):
        for channel in range(channels):
            panel = unit * channels + channel
            ax = axes.ravel()[panel]
            image = ax.imshow(weights[unit, channel], cmap=SIGNED, vmin=-limit, vmax=limit, interpolation="nearest")
            ax.set_title(names[unit] if channels == 1 else f"{names[unit]}, {channel_names[channel]}", fontsize=8)
    fig.suptitle(f"{title}\n{meaning}")
    top = 1 - 1.0 / fig.get_figheight()  # room for the two lines of the title and the panels' titles
    fig.subplots_adjust(left=0.02, right=0.86, bottom=0.02, top=top, wspace=0.1, hspace=0.3)
    fig.colorbar(image, cax=fig.add_axes((0.89, 0.08, 0.025, top - 0.12)), label="weight (white: 0)")
    return fig


def feature_weights(weights, feature_names, output_names, title, meaning, most=30):
    """Each feature's weight into each output unit as horizontal bars, in order: red
    bars (positive) push towards the panel's class, blue bars (negative) away from it.

    ``weights`` is (features, outputs); ``output_names`` titles each output's panel.
    With more than ``most`` features, the ``most`` largest |weights| of each are drawn.
    """
    weights = np.asarray(weights, dtype=np.float64)
    features, outputs = weights.shape
    shown = min(features, most)
    fig, axes = _subplots(1, outputs, figsize=(4.2 * outputs + 2.5, 0.26 * shown + 1.6), squeeze=False)
    for output, ax in enumerate(axes[0]):
        column = weights[:, output]
        order = np.argsort(-np.abs(column))[:shown]
        order = order[np.argsort(column[order], kind="stable")]
        ax.barh(np.arange(shown), column[order], color=np.where(column[order] > 0, "tab:red", "tab:blue"))
        ax.set_yticks(np.arange(shown), [feature_names[i] for i in order], fontsize=8)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_title(output_names[output], fontsize=10)
        ax.set_xlabel(meaning)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(title if shown == features else f"{title} (the {shown} largest of {features})")
    fig.tight_layout()
    return fig


def decision_boundary(model, train, test, class_names, feature_names=("feature 1", "feature 2"),
                      title="Decision boundary"):
    """The classifier's regions over a 2-D plane, with the training points (dots) and
    the test points (triangles) on top, coloured by their true class.

    ``train`` and ``test`` are (X, y) pairs; X has two columns.
    """
    X = np.vstack([train[0], test[0]])
    margin = 0.1 * (X.max(axis=0) - X.min(axis=0)) + 1e-9
    low, high = X.min(axis=0) - margin, X.max(axis=0) + margin
    xx, yy = np.meshgrid(np.linspace(low[0], high[0], 300), np.linspace(low[1], high[1], 300))
    grid = np.column_stack([xx.ravel(), yy.ravel()])
    regions = np.searchsorted(model.classes_, model.predict(grid)).reshape(xx.shape)
    fig, ax = _subplots(figsize=(6.5, 5))
    cmap = matplotlib.colormaps["tab10"]
    ax.contourf(xx, yy, regions, levels=np.arange(len(class_names) + 1) - 0.5,
                colors=[cmap(k) for k in range(len(class_names))], alpha=0.25)
    for (X_split, y_split), split, marker, size in ((train, "train", "o", 12), (test, "test", "^", 30)):
        for k, name in enumerate(class_names):
            ax.scatter(*np.asarray(X_split)[np.asarray(y_split) == k].T, s=size, marker=marker, color=cmap(k),
                       edgecolor="black", linewidth=0.5 if split == "test" else 0.2, label=f"{name} ({split})")
    ax.set_xlabel(feature_names[0])
    ax.set_ylabel(feature_names[1])
    ax.set_title(title)
    ax.legend(loc="best", fontsize=8, ncol=2)
    fig.tight_layout()
    return fig


def _short(name, width=24):
    return name if len(name) <= width else "…" + name[-(width - 1):]


def worst_mistakes(images, y_true, probabilities, class_names, files=(), count=16, title="Most confident mistakes",
                   per_row=8):
    """The wrong predictions the model was surest of, with what it said, the truth
    and, where ``files`` names each image, its file.

    Returns None when there is no mistake to show.
    """
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != y_true)
    if wrong.size == 0:
        return None
    wrong = wrong[np.argsort(-probabilities[wrong, predicted[wrong]])][:count]
    cols = min(len(wrong), per_row)
    rows = int(np.ceil(len(wrong) / cols))
    fig, axes = _panels(rows, cols, (1.7 * cols + 0.4, 2.3 * rows + 0.6))
    _hide_unused(axes, len(wrong))
    for sample, ax in zip(wrong, axes.ravel()):
        ax.imshow(_as_picture(images[sample]), cmap="gray", interpolation="nearest")
        ax.set_title(f"said {class_names[predicted[sample]]} ({probabilities[sample, predicted[sample]]:.0%})\n"
                     f"was {class_names[y_true[sample]]}", fontsize=8, color="darkred")
        if len(files):
            ax.set_xlabel(_short(str(files[sample])), fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def feature_maps(image, maps, title="Feature maps", per_row=8):
    """One image, then what each convolution layer makes of it: one picture per feature
    map (``per_row`` to a row), each layer on its own colour scale with a colour bar.

    ``maps`` is a list of (label, array of shape (maps, height, width)).
    """
    cols = min(per_row, max(len(array) for _, array in maps))
    heights = [int(np.ceil(len(array) / cols)) for _, array in maps]
    fig, axes = _panels(1 + sum(heights), cols, (1.25 * cols + 2.2, 1.35 * (1 + sum(heights)) + 0.5),
                        layout="constrained")
    _hide_unused(axes[0], 1)
    axes[0, 0].imshow(_as_picture(image), cmap="gray", interpolation="nearest")
    axes[0, 0].set_title("input", fontsize=8)
    first = 1
    for (label, array), height in zip(maps, heights):
        rows = axes[first : first + height]
        low, high = float(array.min()), float(array.max())
        _hide_unused(rows, len(array))
        for index, ax in enumerate(rows.ravel()[: len(array)]):
            shown = ax.imshow(array[index], cmap="magma", vmin=low, vmax=high if high > low else low + 1,
                              interpolation="nearest")
            ax.set_title(f"map {index}", fontsize=7)
        rows[0, 0].set_ylabel(label, fontsize=8)
        fig.colorbar(shown, ax=rows, shrink=0.9, aspect=10 * height, pad=0.01)
        first += height
    fig.suptitle(title)
    return fig


def learning_rate_study(curves, title="The step size matters", step="iteration"):
    """Cost per iteration (or epoch: ``step``) for several learning rates on one figure (log scale)."""
    fig, ax = _subplots(figsize=(7, 4.5))
    for rate, (costs, outcome) in sorted(curves.items()):
        costs = np.asarray(costs, dtype=float)
        ax.plot(np.arange(1, len(costs) + 1), costs, label=f"learning rate {rate:g}: {outcome}")
    ax.set_yscale("log")
    ax.set_xlabel(step)
    ax.set_ylabel("cost J (log scale)")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def episode_returns(returns, solved_at=None, window=100, title="Learning from rewards"):
    """Return of every episode, its running average, and the solved threshold."""
    returns = np.asarray(returns, dtype=float)
    episodes = np.arange(1, len(returns) + 1)
    fig, ax = _subplots(figsize=(7.5, 4.5))
    ax.plot(episodes, returns, color="tab:blue", alpha=0.35, linewidth=0.8, label="episode return")
    running = np.array([returns[max(0, i - window + 1) : i + 1].mean() for i in range(len(returns))])
    ax.plot(episodes, running, color="tab:blue", linewidth=2, label=f"average of the last {window}")
    if solved_at is not None:
        ax.axhline(solved_at, color="tab:green", linestyle="--", label=f"solved ({solved_at:g})")
    ax.set_xlabel("episode")
    ax.set_ylabel("return (total reward)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


# --- CartPole drawn from its state ---------------------------------------------------------
# Gymnasium's CartPole-v1, in its own units: the track ends at x = ±2.4 (the episode ends
# there), the pole is 2 × 0.5 long (gymnasium's ``length`` is the half-length) and the episode
# ends once it leans more than 12° from upright; θ > 0 leans right. The cart is 0.4 × 0.24 and
# the pole 0.08 wide, hinged a quarter of the cart's height above the track (gymnasium's
# renderer: 50 × 30 and 10 pixels at 125 pixels per unit).
CARTPOLE_TRACK = 2.4
CARTPOLE_HALF_POLE = 0.5
CARTPOLE_ANGLE_LIMIT = np.radians(12)
CART_WIDTH, CART_HEIGHT, POLE_WIDTH = 0.4, 0.24, 0.08


def _cartpole_state(state):
    state = np.asarray(state, dtype=np.float64)
    if state.shape != (4,):
        raise ValueError(f"a CartPole state is 4 numbers (x, ẋ, θ, θ̇); got an array of shape {state.shape}")
    if not np.all(np.isfinite(state)):
        raise ValueError(f"a CartPole state must be finite numbers; got {state.tolist()}")
    return state


def cartpole_points(state):
    """Where CartPole's parts are in state (x, ẋ, θ, θ̇): the cart's centre (x, 0) on the
    track, the hinge on top of it, and the pole's tip, 2 × 0.5 from the hinge at angle θ
    from upright: tip = hinge + (sin θ, cos θ)."""
    x, _, theta, _ = _cartpole_state(state)
    hinge = np.array([x, CART_HEIGHT / 4])
    tip = hinge + 2 * CARTPOLE_HALF_POLE * np.array([np.sin(theta), np.cos(theta)])
    return {"cart": np.array([x, 0.0]), "hinge": hinge, "tip": tip}


def draw_cartpole(ax, state, action=None):
    """Draw CartPole-v1 in ``state`` (x, ẋ, θ, θ̇) on ``ax``: the track with its ends at
    ±2.4, the cart at x, the pole at angle θ, and dashed the ±12° beyond which the episode
    ends. ``action`` (0 or 1), if given, draws the push as an arrow beside the cart.

    Returns the artists {"cart", "pole", "hinge"} (and "push"), for a caller that moves them.
    """
    points = cartpole_points(state)
    if action is not None and action not in (0, 1):
        raise ValueError(f"a CartPole action is 0 (push left) or 1 (push right); got {action!r}")
    (x, _), hinge, tip = points["cart"], points["hinge"], points["tip"]
    ax.plot([-CARTPOLE_TRACK, CARTPOLE_TRACK], [0, 0], color="black", linewidth=1, zorder=1)
    for end in (-CARTPOLE_TRACK, CARTPOLE_TRACK):
        ax.plot([end, end], [-0.15, 0.15], color="black", linewidth=2, zorder=1)
    for limit in (-CARTPOLE_ANGLE_LIMIT, CARTPOLE_ANGLE_LIMIT):
        ax.plot([hinge[0], hinge[0] + np.sin(limit)], [hinge[1], hinge[1] + np.cos(limit)], color="grey",
                linestyle="--", linewidth=0.8, zorder=1)
    artists = {"cart": patches.Rectangle((x - CART_WIDTH / 2, -CART_HEIGHT / 2), CART_WIDTH, CART_HEIGHT,
                                                    facecolor="0.2", zorder=2)}
    across = POLE_WIDTH / 2 * np.array([tip[1] - hinge[1], hinge[0] - tip[0]]) / (2 * CARTPOLE_HALF_POLE)
    artists["pole"] = patches.Polygon([hinge + across, tip + across, tip - across, hinge - across],
                                                 closed=True, facecolor="tab:orange", edgecolor="none", zorder=3)
    artists["hinge"] = patches.Circle(hinge, POLE_WIDTH / 2, facecolor="tab:blue", zorder=4)
    for artist in artists.values():
        ax.add_patch(artist)
    if action is not None:
        side = 1 if action == 1 else -1
        start = x + side * (CART_WIDTH / 2 + 0.05)
        artists["push"] = ax.annotate("", xy=(start + side * 0.4, 0), xytext=(start, 0), zorder=4,
                                      arrowprops={"arrowstyle": "-|>", "color": "tab:green", "linewidth": 1.5})
    ax.set_xlim(-CARTPOLE_TRACK - 0.6, CARTPOLE_TRACK + 0.6)
    ax.set_ylim(-0.3, 2 * CARTPOLE_HALF_POLE + 0.25)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    return artists


def _degrees(angle):
    """An angle in radians as signed degrees, "+1.5°" or "−0.3°" (a minus sign, and no "−0.0°")."""
    degrees = round(float(np.degrees(angle)), 1) + 0.0
    return f"{degrees:+.1f}°".replace("-", "\N{MINUS SIGN}")


def cartpole_frames(states, actions=None, every=10, per_row=3, title="An episode of CartPole"):
    """An episode as a grid of frames drawn from its states: every ``every``-th step and
    the last one, each titled with its step (from 0) and the pole's angle θ.

    ``states`` is (steps, 4), the observations (x, ẋ, θ, θ̇) an episode saw; ``actions``,
    if given, one per step, draws what the policy did in each frame's state.
    """
    states = np.asarray(states, dtype=np.float64)
    if states.ndim != 2 or states.shape[1] != 4 or len(states) == 0:
        raise ValueError(f"an episode's states are (steps, 4) numbers (x, ẋ, θ, θ̇); got shape {states.shape}")
    if not np.all(np.isfinite(states)):
        raise ValueError("a CartPole state must be finite numbers; the episode's states hold "
                         f"{np.count_nonzero(~np.isfinite(states))} that are not")
    if not (isinstance(every, (int, np.integer)) and every >= 1):
        raise ValueError(f"every must be a whole number of steps ≥ 1; got {every!r}")
    if actions is not None and len(actions) != len(states):
        raise ValueError(f"one action per state: {len(actions)} actions for {len(states)} states")
    if actions is not None and not np.isin(actions, (0, 1)).all():
        others = sorted(set(np.ravel(actions).tolist()) - {0, 1})
        raise ValueError(f"a CartPole action is 0 (push left) or 1 (push right); got {others}")
    steps = list(range(0, len(states), every))
    if steps[-1] != len(states) - 1:
        steps.append(len(states) - 1)  # how the episode ends
    rows, cols = int(np.ceil(len(steps) / per_row)), min(per_row, len(steps))
    fig, axes = _panels(rows, cols, (2.7 * cols, 1.05 * rows + 0.55))
    _hide_unused(axes, len(steps))
    for step, ax in zip(steps, axes.ravel()):
        draw_cartpole(ax, states[step], None if actions is None else int(actions[step]))
        ax.set_title(f"step {step}: θ = {_degrees(states[step, 2])}", fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
