"""Losses, each computed from the network's raw outputs (logits) with its gradient.

A loss turns the outputs of a batch of m samples and their targets into one number,
the average cost J, and gives ∂J/∂output to start the backward pass. The
classification losses take logits z (before the sigmoid or softmax): the fused forms
below are stable for any z, and their gradients are simply "prediction − target".
"""

from __future__ import annotations

from numbers import Real

import numpy as np

from .layers.activations import Sigmoid, Softmax, log_sigmoid, log_softmax, sigmoid, softmax
from .validation import Interval, check_parameter


class Loss:
    """Base class. ``forward`` returns J and keeps what ``backward`` needs.

    Every loss takes the network's logits, the scores before its output layer
    (``Sequential.logits``). ``output_activation`` names the output layer whose
    probabilities this loss is the cost of (Sigmoid, Softmax); a network that ends in
    another one is refused by the training loop. A regression loss has none: it takes
    the outputs of a network without an output activation.
    """

    output_activation: type | None = None

    def __call__(self, output, target):
        return self.forward(output, target)

    def forward(self, output, target) -> float:
        raise NotImplementedError

    def backward(self):
        raise NotImplementedError

    def correct(self, output, target):
        """How many predictions in the batch are right (None for regression losses)."""
        return None

    def get_config(self):
        return {}


class BinaryCrossEntropy(Loss):
    """Negative log-likelihood of a Bernoulli, from logits z, for targets y ∈ {0, 1}.

    For m samples of k independent outputs each (k = 1: one sigmoid neuron; k > 1:
    multi-label), averaged over all N = m·k values:

    J = −(1/N) Σ [y log σ(z) + (1 − y) log(1 − σ(z))]
      =  (1/N) Σ [softplus(z) − y z],   softplus(z) = max(z, 0) + log(1 + e^(−|z|))
    ∂J/∂z = (σ(z) − y) / N

    The softplus form never takes log(0) and never overflows, even for |z| = 1e4.
    """

    output_activation = Sigmoid

    def forward(self, logits, target):
        target = np.asarray(target, dtype=logits.dtype).reshape(logits.shape)
        self._logits, self._target = logits, target
        return float(np.mean((1 - target) * logits - log_sigmoid(logits)))

    def backward(self):
        return (sigmoid(self._logits) - self._target) / self._logits.dtype.type(self._logits.size)

    def correct(self, logits, target):
        return int(np.sum((logits.ravel() > 0) == (np.asarray(target).ravel() > 0.5)))


class CrossEntropy(Loss):
    """Categorical cross-entropy of a softmax over K classes, from logits z (m × K).

    J = −(1/m) Σ_n log softmax(z_n)[y_n] = (1/m) Σ_n [logsumexp(z_n) − z_n,y_n]
    ∂J/∂z = (softmax(z) − onehot(y)) / m

    The gradient is the whole Jacobian of softmax composed with the log-loss, which
    collapses to this difference; logsumexp is computed with the max subtracted.
    Targets are class indices (m,) or rows of class probabilities (m × K).
    """

    output_activation = Softmax

    def forward(self, logits, target):
        target = np.asarray(target)
        if target.ndim == 1:
            onehot = np.zeros_like(logits)
            onehot[np.arange(len(target)), target.astype(np.intp)] = 1
            target = onehot
        self._logits, self._target = logits, target.astype(logits.dtype, copy=False)
        return float(-np.mean(np.sum(self._target * log_softmax(logits), axis=1)))

    def backward(self):
        return (softmax(self._logits) - self._target) / self._logits.dtype.type(len(self._logits))

    def correct(self, logits, target):
        target = np.asarray(target)
        labels = target if target.ndim == 1 else target.argmax(axis=1)
        return int(np.sum(logits.argmax(axis=1) == labels))


class MeanSquaredError(Loss):
    """Mean squared error over all outputs, for regression (no output activation).

    J = (1/N) Σ (ŷ − y)²,  N = number of output values
    ∂J/∂ŷ = 2 (ŷ − y) / N
    """

    def forward(self, output, target):
        target = np.asarray(target, dtype=output.dtype).reshape(output.shape)
        self._diff = output - target
        return float(np.mean(self._diff * self._diff))

    def backward(self):
        return 2 * self._diff / self._diff.dtype.type(self._diff.size)


class PolicyGradient(Loss):
    """The REINFORCE loss of a softmax policy π(a | s) = softmax(z)_a, with an entropy bonus.

    For T steps with actions a_t and advantages A_t (how much better than expected
    the return after step t was), and the entropy H = −Σ_a π_a log π_a:

    J = −(1/T) Σ_t [A_t log π(a_t | s_t) + β H(π(· | s_t))]
    ∂J/∂z_t = (1/T) [A_t (π_t − onehot(a_t)) + β π_t ⊙ (log π_t + H_t)]

    Descending J raises the log-probability of actions that turned out better than
    expected, in proportion to how much better: the policy-gradient theorem. The
    target is the pair (actions, advantages).
    """

    output_activation = Softmax

    def __init__(self, entropy=0.0):
        check_parameter("entropy", entropy, [Interval(Real, 0, None, closed="left")], "PolicyGradient")
        self.entropy = float(entropy)

    def forward(self, logits, target):
        actions, advantages = (np.asarray(part) for part in target)
        log_p = log_softmax(logits)
        p = np.exp(log_p)
        steps = np.arange(len(logits))
        self._p, self._log_p, self._actions = p, log_p, actions.astype(np.intp)
        self._advantages = advantages.astype(logits.dtype)
        self._h = -np.sum(p * log_p, axis=1)
        return float(-np.mean(self._advantages * log_p[steps, self._actions] + self.entropy * self._h))

    def backward(self):
        p, steps = self._p, np.arange(len(self._p))
        grad = p * self._advantages[:, None]
        grad[steps, self._actions] -= self._advantages
        grad += self.entropy * p * (self._log_p + self._h[:, None])
        return grad / p.dtype.type(len(p))

    def get_config(self):
        return {"entropy": self.entropy}
