"""Losses, each computed from the network's raw outputs (logits) with its gradient.

A loss turns the outputs of a batch of m samples and their targets into one number,
the average cost J, and gives ∂J/∂output to start the backward pass. The
classification losses take logits z (before the sigmoid or softmax): the fused forms
below are stable for any z, and their gradients are simply "prediction − target".
"""

from __future__ import annotations

from numbers import Real

import numpy as np

from scipy.special import xlogy

from .layers.activations import Exp, Sigmoid, Softmax, log_sigmoid, log_softmax, sigmoid
from .validation import Interval, check_parameter


class Loss:
    """Base class. ``forward`` returns J and keeps what ``backward`` needs.

    Every loss takes the network's logits, the scores before its output layer
    (``Sequential.logits``). ``output_activation`` names the output layer whose
    probabilities this loss is the cost of (Sigmoid, Softmax); a network that ends in
    another one is refused by the training loop. A regression loss has none: it takes
    the outputs of a network without an output activation.

    J averages a cost ℓ_n per sample, weighted when sample weights w are given:

    J = Σ_n w_n ℓ_n / Σ_n w_n   (= (1/m) Σ_n ℓ_n without weights)
    ∂J/∂z_n = (w_n / Σ w) · ∂ℓ_n/∂z_n
    """

    output_activation: type | None = None

    def __call__(self, output, target, sample_weight=None):
        return self.forward(output, target, sample_weight)

    def forward(self, output, target, sample_weight=None) -> float:
        raise NotImplementedError

    def backward(self):
        raise NotImplementedError

    def _average(self, per_sample, sample_weight, output_ndim=2):
        """J from the per-sample costs ℓ_n; keeps the factors w_n / Σ w that backward
        applies, shaped to scale the rows of an output of ``output_ndim`` dimensions
        ((m,): one output a sample; (m, k))."""
        if sample_weight is None:
            self._share = per_sample.dtype.type(1 / len(per_sample))
            return float(np.mean(per_sample))
        weights = np.asarray(sample_weight, dtype=per_sample.dtype)
        if not weights.sum():
            raise ValueError("Weights sum to zero, can't be normalized (a minibatch whose samples all weigh 0)")
        share = weights / weights.sum()
        self._share = share.reshape((-1,) + (1,) * (output_ndim - 1))
        return float(np.dot(share, per_sample))

    def correct(self, output, target):
        """How many predictions in the batch are right (None for regression losses)."""
        return None

    def get_config(self):
        return {}


def _per_sample(per_value):
    """ℓ_n = Σ_k of the costs of sample n's outputs, from an (m, k) array; an (m,)
    array is one output a sample, its own ℓ_n."""
    return per_value.sum(axis=1) if per_value.ndim > 1 else per_value


class BinaryCrossEntropy(Loss):
    """Negative log-likelihood of Bernoullis, from logits z, for targets y ∈ {0, 1}.

    Each sample has k independent outputs (k = 1: one sigmoid neuron; k > 1: a
    multi-label problem, one yes/no per label), logits m × k or, for one output, (m,);
    its cost is the log-likelihood of its whole label vector, and J averages it over
    the m samples::

        ℓ_n = −Σ_k [y log σ(z) + (1 − y) log(1 − σ(z))] = Σ_k [softplus(z) − y z]
        J = (1/m) Σ_n ℓ_n,    ∂J/∂z = (σ(z) − y) / m

    ``softplus(z) = max(z, 0) + log(1 + e^(−|z|))`` never takes log(0) and never
    overflows, even for ``|z| = 1e4``.
    """

    output_activation = Sigmoid

    def forward(self, logits, target, sample_weight=None):
        target = np.asarray(target, dtype=logits.dtype).reshape(logits.shape)
        self._logits, self._target = logits, target
        return self._average(_per_sample((1 - target) * logits - log_sigmoid(logits)), sample_weight, logits.ndim)

    def backward(self):
        return (sigmoid(self._logits) - self._target) * self._share

    def correct(self, logits, target):
        return int(np.sum((logits.ravel() > 0) == (np.asarray(target).ravel() > 0.5)))


class CrossEntropy(Loss):
    """Categorical cross-entropy of a softmax over K classes, from logits z (m × K).

    ℓ_n = −log softmax(z_n)[y_n] = logsumexp(z_n) − z_n,y_n
    J = (1/m) Σ_n ℓ_n,    ∂J/∂z = (softmax(z) − onehot(y)) / m

    The gradient is the whole Jacobian of softmax composed with the log-loss, which
    collapses to this difference; logsumexp is computed with the max subtracted.
    Targets are class indices (m,) or rows of class probabilities (m × K).
    """

    output_activation = Softmax

    def forward(self, logits, target, sample_weight=None):
        # softmax and its logarithm from one exponential: with s = z − max z and
        # S = Σ_j e^(s_j), log softmax(z) = s − log S and softmax(z) = e^s / S (kept for backward)
        shifted = logits - logits.max(axis=1, keepdims=True)
        exponentials = np.exp(shifted)
        totals = exponentials.sum(axis=1, keepdims=True)
        self._probabilities = np.divide(exponentials, totals, out=exponentials)
        log_totals = np.log(totals)
        target = np.asarray(target)
        if target.ndim == 1:  # class indices: ℓ_n = log S_n − s_n,y_n, no one-hot matrix
            self._target = (np.arange(len(target)), target.astype(np.intp, copy=False))
            per_sample = log_totals[:, 0] - shifted[self._target]
        else:
            self._target = target.astype(logits.dtype, copy=False)
            per_sample = -np.sum(self._target * (shifted - log_totals), axis=1)
        return self._average(per_sample, sample_weight)

    def backward(self):
        gradient = self._probabilities.copy()
        if isinstance(self._target, tuple):  # − onehot(y): 1 off each sample's true class
            gradient[self._target] -= 1
        else:
            gradient -= self._target
        gradient *= self._share
        return gradient

    def correct(self, logits, target):
        target = np.asarray(target)
        labels = target if target.ndim == 1 else target.argmax(axis=1)
        return int(np.sum(logits.argmax(axis=1) == labels))


class MeanSquaredError(Loss):
    """Mean squared error over all outputs, for regression (no output activation).

    For m samples of k outputs:  ℓ_n = (c/k) Σ_k (ŷ − y)²,  J = (1/m) Σ_n ℓ_n
    ∂J/∂ŷ = 2c (ŷ − y) / (m k),  with c = 1 (``HalfSquaredError``: c = ½).
    """

    factor = 1.0

    def forward(self, output, target, sample_weight=None):
        target = np.asarray(target, dtype=output.dtype).reshape(output.shape)
        self._diff = diff = output - target
        if sample_weight is None:  # every sample counts 1/m: J is the mean over all entries
            self._share = diff.dtype.type(1 / len(diff))
            return self.factor * float(np.vdot(diff, diff)) / diff.size
        per_sample = np.mean(diff * diff, axis=1) if diff.ndim > 1 else diff * diff
        return self.factor * self._average(per_sample, sample_weight, diff.ndim)

    def backward(self):
        outputs = self._diff.shape[1] if self._diff.ndim > 1 else 1
        return (2 * self.factor / outputs) * self._diff * self._share


class HalfSquaredError(MeanSquaredError):
    """Half the mean squared error, J = (1/2N) Σ (ŷ − y)²: scikit-learn's squared
    error, whose gradient is simply (ŷ − y) / N."""

    factor = 0.5


class HalfPoissonDeviance(Loss):
    """Half the Poisson deviance, for counts and other non-negative targets, from the
    log-mean z (the network's output before its ``Exp``, so ŷ = e^z > 0), m × k or,
    for one output, (m,):

    ℓ_n = Σ_k [y log(y / ŷ) − y + ŷ] = Σ_k [y log y − y z − y + e^z],   J = (1/m) Σ_n ℓ_n
    ∂J/∂z = (e^z − y) / m
    """

    output_activation = Exp

    def forward(self, logits, target, sample_weight=None):
        target = np.asarray(target, dtype=logits.dtype).reshape(logits.shape)
        self._mean, self._target = np.exp(logits), target
        per_value = xlogy(target, target) - target * logits - target + self._mean
        return self._average(_per_sample(per_value), sample_weight, logits.ndim)

    def backward(self):
        return (self._mean - self._target) * self._share


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

    def forward(self, logits, target, sample_weight=None):
        actions, advantages = (np.asarray(part) for part in target)
        log_p = log_softmax(logits)
        p = np.exp(log_p)
        steps = np.arange(len(logits))
        self._p, self._log_p, self._actions = p, log_p, actions.astype(np.intp)
        self._advantages = advantages.astype(logits.dtype)
        self._h = -np.sum(p * log_p, axis=1)
        return self._average(-(self._advantages * log_p[steps, self._actions] + self.entropy * self._h), sample_weight)

    def backward(self):
        p, steps = self._p, np.arange(len(self._p))
        grad = p * self._advantages[:, None]
        grad[steps, self._actions] -= self._advantages
        grad += self.entropy * p * (self._log_p + self._h[:, None])
        return grad * self._share

    def get_config(self):
        return {"entropy": self.entropy}
