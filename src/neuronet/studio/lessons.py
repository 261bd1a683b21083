"""The studio's lessons, by name, and the step-size verdict the single neuron's lesson gives.

Each lesson sets the page up, says what to look at and what to try, and recognises when
the learner has seen it; the page holds their text and their checks (``static/lessons.js``).
Here are their names, for ``neuronet studio --lesson NAME`` and the page's links
(``#lesson=NAME&…``), and the verdict on gradient descent that the step-size lesson
teaches: judged on the first :data:`VERDICT_STEPS` steps, as ``neuronet study
learning-rate`` judges its runs, so that it is the same whatever speed the page runs at.
"""

from __future__ import annotations

LESSONS = {
    "neuron": "one neuron: the boundary is a line",
    "step-size": "the step size: crawl, converge, oscillate, diverge",
    "threshold": "threshold and accuracy",
    "hidden-layer": "a hidden layer and its parameter count",
    "backprop": "backpropagation, one sample by hand",
    "vanishing-gradient": "the vanishing gradient",
    "softmax": "softmax over several classes",
    "convolution": "sharing weights on digits",
}

VERDICT_STEPS = 300  # the iterations of `neuronet study learning-rate`'s logistic runs
FIRST_VERDICT = 10   # before this many steps a cost curve says nothing yet


def verdict(costs, diverged):
    """What gradient descent does on its first ``VERDICT_STEPS`` steps, from its costs.

    Parameters
    ----------
    costs : sequence of float
        The cost before each step so far, the first step's first.
    diverged : bool
        Whether training stopped because the cost blew up.

    Returns
    -------
    dict or None
        ``outcome`` (see :func:`neuronet.studies.outcome`: "crawls", "converges",
        "overshoots and oscillates" or "diverges"), ``steps`` (how many steps it judged),
        ``window`` (``VERDICT_STEPS``) and ``final`` (True once those are all ``VERDICT_STEPS``, or the run diverged
        within them: the verdict no longer changes); None before ``FIRST_VERDICT`` steps.
    """
    from ..studies import outcome  # here: `neuronet --help` reads LESSONS without importing scikit-learn

    window = list(costs[:VERDICT_STEPS])
    diverged = bool(diverged) and len(costs) <= VERDICT_STEPS
    if len(window) < FIRST_VERDICT and not diverged:
        return None
    return {"outcome": outcome(window, diverged), "steps": len(window), "window": VERDICT_STEPS,
            "final": diverged or len(window) == VERDICT_STEPS}
