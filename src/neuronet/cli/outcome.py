"""How a training run ended, in the command line's words: one line per problem, with the
flag that would fix it and the run's own numbers.

Python says what went wrong as warnings (a ``ConvergenceWarning`` for a cost that never
settled, a :class:`~neuronet.diagnosis.StoppedLearningWarning` for a network that stopped
learning); :func:`caught_warnings` collects them while a model trains, and
:func:`outcome` turns them, and what the model's cost curve shows, into lines that name
``--learning-rate``, ``--epochs``, ``--activation`` or ``--optimizer``, not the
estimator's parameters. The report shows the same lines at its top.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager

from sklearn.exceptions import ConvergenceWarning

from ..diagnosis import StoppedLearningWarning, either

# A run's training loss "rose" when it ends this much above its lowest value (an epoch's
# mean moves with the minibatches' noise; a rise of a tenth is no noise)
ROSE_BY = 0.10


@contextmanager
def caught_warnings():
    """Within the block, the ConvergenceWarnings raised (with their subclasses) are
    collected into the list yielded, not printed; other warnings go on as before."""
    caught = []
    with warnings.catch_warnings(record=True) as recorded:
        warnings.simplefilter("always", ConvergenceWarning)
        yield caught
    for record in recorded:
        if issubclass(record.category, ConvergenceWarning):
            caught.append(record.message)
        else:
            warnings.showwarning(record.message, record.category, record.filename, record.lineno)


def outcome(model, caught):
    """The lines that tell what went wrong in ``model``'s fit (none for a healthy one):
    one per warning ``caught``, and one for a training loss that rose (unless a warning
    already says so: logistic regression's own)."""
    kinds = [getattr(warning, "kind", None) or getattr(warning, "facts", {}).get("kind") for warning in caught]
    rose = None if "cost_rose" in kinds else _loss_rise(model)
    lines = [rose] if rose else []
    for warning, kind in zip(caught, kinds):
        if rose and kind in (None, "still_falling"):
            continue  # the end of a rising run is no reason for more epochs: the rate is the remedy
        line = _worded(model, warning, kind)
        if line not in lines:
            lines.append(line)
    return lines


def learning_rate_of(params):
    """The value of what the command line calls --learning-rate, from an estimator's parameters."""
    return params.get("learning_rate_init", params.get("learning_rate"))


def _rate(model):
    return learning_rate_of(model.get_params())


def _smaller_rate(model):
    return f"try --learning-rate {_rate(model) / 10:g}, or compare rates with: neuronet study learning-rate"


def _worded(model, warning, kind):
    """One warning in the command line's words (``kind``: what its facts say went wrong)."""
    if isinstance(warning, StoppedLearningWarning):
        return _stopped_learning(model, warning)
    if kind == "cost_rose":
        facts = warning.facts
        at, before, after = facts["first_rise"]
        return (f"the cost rose at {facts['rises']} of {facts['iterations']} iterations (first at iteration {at}: "
                f"{before:.4g} → {after:.4g}): --learning-rate {_rate(model):g} overshoots; {_smaller_rate(model)}")
    step = model.history_.step if hasattr(model, "history_") else "epoch"
    if kind == "still_falling":  # logistic regression's facts: also after a single iteration
        cost, fell = warning.facts["last_cost"], warning.facts["last_fall"]
    else:
        costs = getattr(model, "loss_curve_", None) or []
        if not costs or len(costs) < model.max_iter:
            return str(warning)
        cost, fell = costs[-1], costs[-2] - costs[-1] if len(costs) > 1 else 0.0  # one epoch: no fall to tell
    if fell > 0:
        return (f"the cost was still falling at the last {step} ({cost:.4g}, down {fell:.2g} in that {step}): "
                f"give --epochs more than {model.max_iter} or a larger --learning-rate")
    return (f"training reached --epochs {model.max_iter} before the cost settled (it ended at {cost:.4g}): "
            f"give --epochs more than {model.max_iter}, or try another --learning-rate")


def _stopped_learning(model, warning):
    """A network that stopped learning: what the diagnosis found, and the flags to try."""
    flags = {"smaller_learning_rate": f"a smaller --learning-rate than {warning.learning_rate}",
             "larger_learning_rate": f"a larger --learning-rate than {warning.learning_rate}",
             "leaky_relu": "--activation leaky_relu", "adam": "--optimizer adam",
             "more_iterations": f"--epochs more than {model.max_iter}",
             "lower_threshold": f"a --threshold below {model.get_params().get('threshold')} (the optimum itself "
                                "says one class: the other is rare, or the features do not separate it)"}
    tries = [flags[key] for key in warning.remedies if key in flags]
    advice = f": try {either(tries)}" if tries else ""
    return warning.diagnosis.describe(type(model).__name__) + advice


def _loss_rise(model):
    """The line for a run whose training loss ended well above its lowest, or None."""
    costs = getattr(model, "loss_curve_", None) or []
    history = getattr(model, "history_", None)
    if len(costs) < 2 or history is None:
        return None
    lowest = min(range(len(costs)), key=costs.__getitem__)
    if costs[-1] <= costs[lowest] * (1 + ROSE_BY):
        return None
    return (f"the training loss rose from its lowest, {costs[lowest]:.4g} at {history.step} {lowest + 1}, to "
            f"{costs[-1]:.4g} at the last: --learning-rate {_rate(model):g} likely overshoots; {_smaller_rate(model)}")
