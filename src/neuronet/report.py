"""The report folder written by ``neuronet train``: figures and an index.html."""

from __future__ import annotations

import html
import os

import numpy as np
from sklearn.metrics import classification_report

from . import plots


def write_report(folder, model, dataset, split, settings):
    """Draw every figure that applies to this model and data, then index.html.

    ``split`` is (X_train, X_test, y_train, y_test) as the model saw them.
    Returns the path of index.html.
    """
    X_train, X_test, y_train, y_test = split
    names = [str(c) for c in dataset.class_names]
    network = model.network_
    probabilities = model.predict_proba(X_test)
    predicted = np.searchsorted(model.classes_, model.predict(X_test))
    figures = []

    def add(name, fig, caption):
        if fig is not None:
            figures.append((plots.save(fig, os.path.join(folder, name)), caption))

    add("learning_curves.png",
        plots.learning_curves(model.history_.history, f"{type(model).__name__} on {dataset.name}",
                              model.history_.step),
        "Cost and accuracy during training: train (blue) and held-out data (orange).")
    add("confusion_matrix.png", plots.confusion_matrix(y_test, predicted, names, "Confusion matrix, held-out data"),
        "Rows: the true class; columns: what the model said.")
    add("weights.png", plots.first_layer_weights(network, dataset.image_shape),
        "The first layer's weights as pictures: what each neuron (or kernel) responds to.")
    if X_train.ndim == 2 and X_train.shape[1] == 2:
        add("decision_boundary.png", plots.decision_boundary(model, np.vstack([X_train, X_test]),
                                                             np.concatenate([y_train, y_test]), names),
            "The regions where the model says each class (features standardized).")
    if dataset.image_shape is not None:
        add("mistakes.png", plots.worst_mistakes(X_test, y_test, probabilities, names),
            "The held-out images the model got wrong while most sure of itself.")
    text_report = classification_report(y_test, predicted, labels=np.arange(len(names)), target_names=names,
                                        zero_division=0)
    index = os.path.join(folder, "index.html")
    with open(index, "w", encoding="utf-8") as page:
        page.write(_page(model, dataset, settings, text_report, figures, folder))
    return index


def _page(model, dataset, settings, text_report, figures, folder):
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in settings.items())
    images = "".join(
        f'<figure><img src="{html.escape(os.path.relpath(path, folder))}" alt="{html.escape(caption)}">'
        f"<figcaption>{html.escape(caption)}</figcaption></figure>" for path, caption in figures)
    summary = model.network_.summary(print_fn=None)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>neuronet: {html.escape(type(model).__name__)} on {html.escape(dataset.name)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }}
table {{ border-collapse: collapse; }} th, td {{ text-align: left; padding: 0.2em 1em 0.2em 0; }}
th {{ color: #555; font-weight: 600; }} pre {{ background: #f6f6f6; padding: 1em; overflow-x: auto; }}
figure {{ margin: 1.5em 0; }} img {{ max-width: 100%; border: 1px solid #ddd; }} figcaption {{ color: #555; }}
</style></head><body>
<h1>{html.escape(type(model).__name__)} on {html.escape(dataset.name)}</h1>
<p>{html.escape(dataset.description)}</p>
<h2>Settings and results</h2><table>{rows}</table>
<h2>Per-class precision and recall (held-out data)</h2><pre>{html.escape(text_report)}</pre>
<h2>The network</h2><pre>{html.escape(summary)}</pre>
<h2>Figures</h2>{images}
</body></html>
"""
