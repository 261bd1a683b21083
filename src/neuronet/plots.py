"""Figures that show what a network learned (matplotlib, headless).

Each function returns a matplotlib Figure; ``save(fig, path)`` writes it as PNG.
"""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")  # headless: figures go to files, never to a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.metrics import confusion_matrix as _confusion  # noqa: E402


def save(fig, path):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def learning_curves(history, title="Learning curves", step="epoch"):
    """Loss and accuracy per ``step``, train and validation, side by side.

    ``step`` names one entry of the history: "epoch" for minibatch training, "iteration"
    for full-batch gradient descent, where each step sees all the data once.
    """
    metrics = [m for m in ("loss", "accuracy") if m in history]
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 4), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        epochs = np.arange(1, len(history[metric]) + 1)
        ax.plot(epochs, history[metric], label="train", color="tab:blue")
        if f"val_{metric}" in history:
            ax.plot(epochs, history[f"val_{metric}"], label="validation", color="tab:orange")
        ax.set_xlabel(step)
        ax.set_ylabel("cost (cross-entropy)" if metric == "loss" else "accuracy")
        ax.set_title(f"{'Cost' if metric == 'loss' else 'Accuracy'} per {step}")
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
    fig, ax = plt.subplots(figsize=(size + 1, size))
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


def first_layer_weights(network, image_shape=None, max_units=64, title=None):
    """What each first-layer neuron looks for: its incoming weights drawn as an image.

    A Dense layer over image pixels gives one picture per unit (for logistic
    regression: its single weight image); a Conv2D layer gives one per kernel.
    Returns None when the weights are not over an image.
    """
    layer = network.layers[0]
    weights = layer.params.get("weights")
    if weights is None:
        return None
    if weights.ndim == 4:  # Conv2D: (filters, channels, kh, kw)
        pictures, kind = list(weights), "kernel"
    elif image_shape is not None and weights.shape[0] == int(np.prod(image_shape)):
        pictures, kind = [weights[:, u].reshape(image_shape) for u in range(weights.shape[1])], "unit"
    else:
        return None
    pictures = pictures[:max_units]
    rows, cols = _grid(len(pictures))
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols + 0.5, 1.6 * rows + 0.6), squeeze=False)
    grey = pictures[0].shape[0] == 1
    for index, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if index < len(pictures):
            ax.imshow(_as_picture(pictures[index]), cmap="RdBu_r" if grey else None, interpolation="nearest")
            ax.set_title(f"{kind} {index}", fontsize=8)
    fig.suptitle(title or f"First-layer weights: what each {kind} looks for"
                          + (" (red +, blue −)" if grey else ""))
    fig.tight_layout()
    return fig


def decision_boundary(model, X, y, class_names, title="Decision boundary"):
    """The classifier's regions over a 2-D plane, with the data on top."""
    X = np.asarray(X)
    margin = 0.1 * (X.max(axis=0) - X.min(axis=0)) + 1e-9
    low, high = X.min(axis=0) - margin, X.max(axis=0) + margin
    xx, yy = np.meshgrid(np.linspace(low[0], high[0], 300), np.linspace(low[1], high[1], 300))
    grid = np.column_stack([xx.ravel(), yy.ravel()])
    regions = np.searchsorted(model.classes_, model.predict(grid)).reshape(xx.shape)
    fig, ax = plt.subplots(figsize=(6, 5))
    cmap = plt.get_cmap("tab10")
    ax.contourf(xx, yy, regions, levels=np.arange(len(class_names) + 1) - 0.5, colors=[cmap(k) for k in range(len(class_names))],
                alpha=0.25)
    for k, name in enumerate(class_names):
        ax.scatter(*X[y == k].T, s=12, color=cmap(k), edgecolor="black", linewidth=0.3, label=f"class {name}")
    ax.set_xlabel("feature 1")
    ax.set_ylabel("feature 2")
    ax.set_title(title)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return fig


def worst_mistakes(images, y_true, probabilities, class_names, count=16, title="Most confident mistakes"):
    """The wrong predictions the model was surest of, with what it said and the truth.

    Returns None when there is no mistake to show.
    """
    predicted = probabilities.argmax(axis=1)
    wrong = np.flatnonzero(predicted != y_true)
    if wrong.size == 0:
        return None
    wrong = wrong[np.argsort(-probabilities[wrong, predicted[wrong]])][:count]
    rows, cols = _grid(len(wrong))
    fig, axes = plt.subplots(rows, cols, figsize=(1.9 * cols + 0.4, 2.4 * rows + 0.6), squeeze=False)
    for index, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if index < len(wrong):
            sample = wrong[index]
            ax.imshow(_as_picture(images[sample]), cmap="gray", interpolation="nearest")
            ax.set_title(f"said {class_names[predicted[sample]]} ({probabilities[sample, predicted[sample]]:.0%})\n"
                         f"was {class_names[y_true[sample]]}", fontsize=8, color="darkred")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def learning_rate_study(curves, title="The step size matters"):
    """Cost per iteration for several learning rates on one figure (log scale)."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for rate, (costs, outcome) in sorted(curves.items()):
        costs = np.asarray(costs, dtype=float)
        ax.plot(np.arange(1, len(costs) + 1), costs, label=f"learning rate {rate:g}: {outcome}")
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
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
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
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
