"""Optimizers: how a gradient becomes a step.

Each ``step`` takes ``(key, parameter, gradient)`` triples, or
``(key, parameter, gradient, decay_mask)``, and updates the parameters in place.
``weight_decay`` λ adds the gradient of an L2 penalty (λ/2)‖W‖² on the weights (not
the biases): g ← g + λ W. The weights are the arrays whose key ends in "weights", or
the entries where ``decay_mask`` is 1.
"""

from __future__ import annotations

import numpy as np


class Optimizer:
    """Base class: learning rate, weight decay, and per-parameter state."""

    def __init__(self, learning_rate, weight_decay=0.0):
        if not np.isfinite(learning_rate) or learning_rate <= 0:
            raise ValueError(f"learning_rate must be a positive number, got {learning_rate!r}")
        if not np.isfinite(weight_decay) or weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
        self.learning_rate = float(learning_rate)
        self.weight_decay = float(weight_decay)
        self.iterations = 0
        self.state: dict[str, np.ndarray] = {}
        self._buffers: dict[str, np.ndarray] = {}

    def step(self, triples):
        self.iterations += 1
        for key, param, grad, *mask in triples:
            if self.weight_decay and (mask or key.endswith("weights")):
                grad = grad + self.weight_decay * (param * mask[0] if mask else param)
            self._update(key, param, grad)

    def _slot(self, key, param):
        if key not in self.state:
            self.state[key] = np.zeros_like(param)
        return self.state[key]

    def _scratch(self, key, param):
        """A reusable work array per parameter: updates allocate no new memory."""
        buffer = self._buffers.get(key)
        if buffer is None or buffer.shape != param.shape or buffer.dtype != param.dtype:
            buffer = self._buffers[key] = np.empty_like(param)
        return buffer

    def _update(self, key, param, grad):
        raise NotImplementedError

    def get_config(self):
        return {"learning_rate": self.learning_rate, "weight_decay": self.weight_decay}

    def state_dict(self):
        """Everything needed to continue exactly: step count and the moment arrays."""
        return {"iterations": self.iterations, "learning_rate": self.learning_rate,
                "slots": dict(self.state)}

    def load_state_dict(self, state):
        self.iterations = int(state["iterations"])
        self.learning_rate = float(state["learning_rate"])
        self.state = {key: np.array(value) for key, value in state["slots"].items()}


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum μ.

    Plain:     θ ← θ − α g
    Momentum:  v ← μ v + g,   θ ← θ − α v
    Nesterov:  v ← μ v + g,   θ ← θ − α (g + μ v)
    With the whole training set as one batch this is the lecture's gradient descent.
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=0.0):
        super().__init__(learning_rate, weight_decay)
        if not 0 <= momentum < 1:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        if nesterov and momentum == 0:
            raise ValueError("nesterov=True needs a momentum > 0")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}

    def _update(self, key, param, grad):
        if self.momentum:
            velocity = self._slot(key, param)
            velocity *= self.momentum
            velocity += grad
            grad = grad + self.momentum * velocity if self.nesterov else velocity
        step = np.multiply(grad, self.learning_rate, out=self._scratch(key, param))
        param -= step


class Adam(Optimizer):
    """Adam: momentum on the gradient and on its square, with bias correction.

    m ← β₁ m + (1 − β₁) g            v ← β₂ v + (1 − β₂) g²
    m̂ = m / (1 − β₁ᵗ)                v̂ = v / (1 − β₂ᵗ)          (t: step count)
    θ ← θ − α m̂ / (√v̂ + ε)
    """

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8, weight_decay=0.0):
        super().__init__(learning_rate, weight_decay)
        for name, beta in (("beta1", beta1), ("beta2", beta2)):
            if not 0 <= beta < 1:
                raise ValueError(f"{name} must be in [0, 1), got {beta!r}")
        self.beta1, self.beta2, self.epsilon = float(beta1), float(beta2), float(epsilon)

    def get_config(self):
        return {**super().get_config(), "beta1": self.beta1, "beta2": self.beta2,
                "epsilon": self.epsilon}

    def _update(self, key, param, grad):
        # Kept as u = m / (1 − β₁) and w = v / (1 − β₂), which update with fewer array
        # passes (u ← β₁ u + g, w ← β₂ w + g²); the step is rewritten to match:
        # α m̂ / (√v̂ + ε) = α (1 − β₁)/(1 − β₁ᵗ) · u / (c (√w + ε / c)),  c = √((1 − β₂)/(1 − β₂ᵗ)).
        first = self._slot(key + "/m", param)
        second = self._slot(key + "/v", param)
        work = self._scratch(key, param)
        first *= self.beta1
        first += grad
        second *= self.beta2
        second += np.multiply(grad, grad, out=work)
        t = self.iterations
        c = np.sqrt((1 - self.beta2) / (1 - self.beta2**t))
        np.sqrt(second, out=work)
        work += self.epsilon / c
        np.divide(first, work, out=work)
        work *= self.learning_rate * (1 - self.beta1) / ((1 - self.beta1**t) * c)
        param -= work


OPTIMIZERS = {"sgd": SGD, "adam": Adam}


def make_optimizer(name, **settings):
    try:
        return OPTIMIZERS[name.lower()](**settings)
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {sorted(OPTIMIZERS)}") from None
