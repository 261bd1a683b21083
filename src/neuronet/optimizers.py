"""Optimizers: how a gradient becomes a step; and schedules: how the step size changes.

An optimizer updates one array of parameters in place from the array of their
gradients: for a network, the flat vector that holds all of its parameters (see
``Sequential.flat_parameters``), so a whole step is a few array operations. Penalties
such as L2 are added to the gradient before the step (:mod:`neuronet.regularizers`).
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np

from .validation import Interval, validate_params


class Optimizer:
    """Base class: a learning rate, a step count, and per-parameter state ("slots")."""

    _parameter_constraints: dict = {"learning_rate": [Interval(Real, 0, None, closed="neither")]}

    def __init__(self, learning_rate):
        self.learning_rate = learning_rate
        validate_params(self._parameter_constraints, self.get_config(), type(self).__name__)
        self.learning_rate = float(learning_rate)
        self.iterations = 0
        self.state: dict[str, np.ndarray] = {}
        self._work = None

    def step(self, parameters, gradients):
        """θ ← θ − (the optimizer's step), in place on ``parameters``."""
        self.iterations += 1
        self._update(parameters, gradients)

    def _slot(self, name, parameters):
        if name not in self.state:
            self.state[name] = np.zeros_like(parameters)
        return self.state[name]

    def _scratch(self, parameters):
        """A reusable work array: updates allocate no new memory."""
        if self._work is None or self._work.shape != parameters.shape or self._work.dtype != parameters.dtype:
            self._work = np.empty_like(parameters)
        return self._work

    def _update(self, parameters, gradients):
        raise NotImplementedError

    def __getstate__(self):
        """The pickled optimizer: its settings and slots, without the work array (made
        again by the next step)."""
        return {**self.__dict__, "_work": None}

    def get_config(self):
        return {"learning_rate": self.learning_rate}

    def state_dict(self):
        """Everything needed to continue exactly: step count, rate and the slot arrays."""
        return {"iterations": self.iterations, "learning_rate": self.learning_rate, "slots": dict(self.state)}

    def load_state_dict(self, state):
        self.iterations = int(state["iterations"])
        self.learning_rate = float(state["learning_rate"])
        self.state = {name: np.array(value) for name, value in state["slots"].items()}


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum μ.

    Plain:     θ ← θ − α g
    Momentum:  v ← μ v + g,   θ ← θ − α v
    Nesterov:  v ← μ v + g,   θ ← θ − α (g + μ v)
    With the whole training set as one batch this is the lecture's gradient descent.

    While α is constant this is also v' ← μ v' − α g, θ ← θ + v' (v' = −α v, the
    velocity of steps, scikit-learn's form). When a schedule changes α the two part:
    ``step_velocity=True`` rescales v by α_old / α_new so that the velocity keeps its
    steps, as scikit-learn's does; the default keeps its gradients, as PyTorch's does.
    """

    _parameter_constraints = {**Optimizer._parameter_constraints,
                              "momentum": [Interval(Real, 0, 1, closed="both")], "nesterov": ["boolean"],
                              "step_velocity": ["boolean"]}

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, step_velocity=False):
        self.momentum, self.nesterov, self.step_velocity = momentum, nesterov, step_velocity
        super().__init__(learning_rate)
        if nesterov and momentum == 0:
            raise ValueError("nesterov=True needs a momentum > 0")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.step_velocity = bool(step_velocity)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov,
                "step_velocity": self.step_velocity}

    def _update(self, parameters, gradients):
        if self.momentum:
            velocity = self._slot("velocity", parameters)
            if self.step_velocity:
                last_rate = self.state.setdefault("velocity_rate", np.array(self.learning_rate))
                if last_rate != self.learning_rate:
                    velocity *= float(last_rate) / self.learning_rate
                    last_rate[...] = self.learning_rate
            velocity *= self.momentum
            velocity += gradients
            if self.nesterov:  # g + μ v, in the work array (no new memory)
                ahead = np.multiply(velocity, self.momentum, out=self._scratch(parameters))
                ahead += gradients
                gradients = ahead
            else:
                gradients = velocity
        step = np.multiply(gradients, self.learning_rate, out=self._scratch(parameters))
        parameters -= step


class Adam(Optimizer):
    """Adam: momentum on the gradient and on its square, with bias correction.

    m ← β₁ m + (1 − β₁) g            v ← β₂ v + (1 − β₂) g²
    m̂ = m / (1 − β₁ᵗ)                v̂ = v / (1 − β₂ᵗ)          (t: step count)
    θ ← θ − α m̂ / (√v̂ + ε)

    ``corrected_epsilon=False`` is the paper's faster variant (scikit-learn's and
    TensorFlow's): θ ← θ − α_t m / (√v + ε) with α_t = α √(1 − β₂ᵗ) / (1 − β₁ᵗ), the
    same but for ε, which is then not scaled by the bias correction.
    """

    _parameter_constraints = {**Optimizer._parameter_constraints,
                              "beta1": [Interval(Real, 0, 1, closed="left")],
                              "beta2": [Interval(Real, 0, 1, closed="left")],
                              "epsilon": [Interval(Real, 0, None, closed="neither")],
                              "corrected_epsilon": ["boolean"]}

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8, corrected_epsilon=True):
        self.beta1, self.beta2, self.epsilon, self.corrected_epsilon = beta1, beta2, epsilon, corrected_epsilon
        super().__init__(learning_rate)
        self.beta1, self.beta2, self.epsilon = float(beta1), float(beta2), float(epsilon)
        self.corrected_epsilon = bool(corrected_epsilon)

    def get_config(self):
        return {**super().get_config(), "beta1": self.beta1, "beta2": self.beta2,
                "epsilon": self.epsilon, "corrected_epsilon": self.corrected_epsilon}

    def _update(self, parameters, gradients):
        # Kept as u = m / (1 − β₁) and w = v / (1 − β₂), which update with fewer array
        # passes (u ← β₁ u + g, w ← β₂ w + g²); the step is rewritten to match:
        # α m̂ / (√v̂ + ε) = α (1 − β₁)/(1 − β₁ᵗ) · u / (c (√w + ε / c)),  c = √((1 − β₂)/(1 − β₂ᵗ));
        # the faster variant has ε / √(1 − β₂) in place of ε / c.
        first = self._slot("m", parameters)
        second = self._slot("v", parameters)
        work = self._scratch(parameters)
        first *= self.beta1
        first += gradients
        second *= self.beta2
        second += np.multiply(gradients, gradients, out=work)
        t = self.iterations
        # Python floats: a NumPy float64 scalar would make NumPy compute the float32 passes
        # below in float64 and cast back, several times slower.
        c = math.sqrt((1 - self.beta2) / (1 - self.beta2**t))
        np.sqrt(second, out=work)
        work += self.epsilon / (c if self.corrected_epsilon else math.sqrt(1 - self.beta2))
        np.divide(first, work, out=work)
        work *= self.learning_rate * (1 - self.beta1) / ((1 - self.beta1**t) * c)
        parameters -= work


class Newton(Optimizer):
    """Newton's method: a step along the curvature, for small full-batch problems.

    θ ← θ − t · H⁻¹ g,   H = ∂²J/∂θ²  (given by ``hessian()`` at the current θ)

    The step length t starts at ``learning_rate`` (1: the full Newton step) and is
    halved until the cost ``cost()`` does not rise. Far from the optimum a full step
    can overshoot; on separable data the optimum lies at infinity, and the halving
    keeps the cost falling slowly instead of blowing up. ``last_step`` is the largest
    change of any parameter in the last step (a convergence test reads it).
    """

    def __init__(self, hessian, cost, learning_rate=1.0, halvings=50):
        self.hessian, self.cost = hessian, cost
        super().__init__(learning_rate)
        self.halvings = int(halvings)
        self.last_step = np.inf

    def _update(self, parameters, gradients):
        # θ is kept in float64 (the "theta" slot): near the optimum a step is smaller
        # than float32 parameters can resolve, and would be rounded away.
        theta = self.state.get("theta")
        if theta is None or theta.shape != parameters.shape or not np.array_equal(theta.astype(parameters.dtype),
                                                                                    parameters):
            theta = parameters.astype(np.float64)  # first step, or the parameters were set from outside
        current = self.cost()
        step = self.learning_rate * np.linalg.solve(self.hessian(), gradients.astype(np.float64))
        for _ in range(self.halvings):
            parameters[...] = theta - step
            if self.cost() <= current:
                break
            step /= 2
        self.state["theta"] = theta - step
        self.last_step = float(np.max(np.abs(step)))

    def state_dict(self):
        return {**super().state_dict(), "last_step": self.last_step}

    def load_state_dict(self, state):
        super().load_state_dict(state)
        self.last_step = float(state["last_step"])


OPTIMIZERS = {"sgd": SGD, "adam": Adam}


def make_optimizer(name, **settings):
    try:
        return OPTIMIZERS[name.lower()](**settings)
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {sorted(OPTIMIZERS)}") from None


# --- schedules ---------------------------------------------------------------------
class CosineDecay:
    """The step size of epoch e of E: η_e = η₀ · ½ (1 + cos(π e / E)).

    Large steps first, then ever finer ones, reaching 0 after E epochs. Called as
    ``schedule(epoch, current_rate)`` by :class:`neuronet.callbacks.LearningRateScheduler`.
    """

    def __init__(self, initial_rate, epochs):
        validate_params({"initial_rate": [Interval(Real, 0, None, closed="neither")],
                         "epochs": [Interval(Integral, 1, None, closed="left")]},
                        {"initial_rate": initial_rate, "epochs": epochs}, "CosineDecay")
        self.initial_rate, self.epochs = float(initial_rate), int(epochs)

    def __call__(self, epoch, rate=None):
        return self.initial_rate * 0.5 * (1 + np.cos(np.pi * epoch / self.epochs))

    def get_config(self):
        return {"initial_rate": self.initial_rate, "epochs": self.epochs}
