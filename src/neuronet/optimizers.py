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

from .validation import Interval, StrOptions, validate_params


class Optimizer:
    """Base class: a learning rate, a step count, and per-parameter state ("slots").

    Every optimizer can clip the gradient g before its step, as ``clip_value`` and
    ``clip_norm`` say (both None: no clipping; both given: by value, then by norm)::

        by value:        g ← min(max(g, −c), c)                      (each entry)
        by global norm:  g ← g · min(1, c / (‖g‖ + 10⁻⁶))            (‖g‖ over all parameters)

    as PyTorch's ``clip_grad_value_`` and ``clip_grad_norm_`` (Keras's ``clipvalue`` and
    ``global_clipnorm``). g is the gradient of the whole cost J, the penalty's part
    included, in the one flat vector of all the network's parameters, so the norm is
    the global one. Clipping belongs to the step: wherever a step is taken (the training
    loop, an estimator, one traced sample) the same clipping applies, and in
    data-parallel training (:mod:`neuronet.distributed`) every rank clips the gradient
    that the all-reduce has just summed, so all of them take the same step.
    """

    clip_norm = clip_value = None  # what an optimizer pickled before clipping existed reads: no clipping

    _parameter_constraints: dict = {"learning_rate": [Interval(Real, 0, None, closed="neither")],
                                    "clip_norm": [Interval(Real, 0, None, closed="neither"), None],
                                    "clip_value": [Interval(Real, 0, None, closed="neither"), None]}

    def __init__(self, learning_rate, *, clip_norm=None, clip_value=None):
        self.learning_rate = learning_rate
        self.clip_norm, self.clip_value = clip_norm, clip_value
        validate_params(self._parameter_constraints,
                        {**self.get_config(), "clip_norm": clip_norm, "clip_value": clip_value}, type(self).__name__)
        self.learning_rate = float(learning_rate)
        self.clip_norm = None if clip_norm is None else float(clip_norm)
        self.clip_value = None if clip_value is None else float(clip_value)
        self.iterations = 0
        self.state: dict[str, np.ndarray] = {}
        self._work = None

    def step(self, parameters, gradients, mask=None):
        """θ ← θ − (the optimizer's step), in place on ``parameters``; ``gradients`` is
        clipped in place first, where the optimizer clips. ``mask`` marks the weights
        among the parameters (1) and the biases (0), as ``Sequential.flat_parameters``
        gives it: the optimizers that decay the weights (AdamW) read it."""
        self.iterations += 1
        self.clip(gradients)
        self._update(parameters, gradients)

    def clip(self, gradients):
        """Clip ``gradients`` in place: by value, then by global norm (see the class)."""
        if self.clip_value is not None:
            np.clip(gradients, -self.clip_value, self.clip_value, out=gradients)
        if self.clip_norm is not None:
            norm = float(np.linalg.norm(gradients))
            scale = min(1.0, self.clip_norm / (norm + 1e-6))  # PyTorch's 10⁻⁶ keeps 0/0 away
            if scale < 1.0:
                gradients *= scale
        return gradients

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
        """The settings (the clipping ones only where set)."""
        clipping = {name: getattr(self, name, None) for name in ("clip_norm", "clip_value")}
        return {"learning_rate": self.learning_rate, **{k: v for k, v in clipping.items() if v is not None}}

    def state_dict(self):
        """Everything needed to continue exactly: step count, rate and the slot arrays."""
        return {"iterations": self.iterations, "learning_rate": self.learning_rate, "slots": dict(self.state)}

    def load_state_dict(self, state):
        self.iterations = int(state["iterations"])
        self.learning_rate = float(state["learning_rate"])
        self.state = {name: np.array(value) for name, value in state["slots"].items()}


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum μ.

    One step, with α the learning rate and g the gradient::

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

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, step_velocity=False, *, clip_norm=None,
                 clip_value=None):
        self.momentum, self.nesterov, self.step_velocity = momentum, nesterov, step_velocity
        super().__init__(learning_rate, clip_norm=clip_norm, clip_value=clip_value)
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

    One step, with α the learning rate and g the gradient::

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

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8, corrected_epsilon=True, *,
                 clip_norm=None, clip_value=None):
        self.beta1, self.beta2, self.epsilon, self.corrected_epsilon = beta1, beta2, epsilon, corrected_epsilon
        super().__init__(learning_rate, clip_norm=clip_norm, clip_value=clip_value)
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


class AdamW(Adam):
    """AdamW: Adam with decoupled weight decay (Loshchilov and Hutter), as PyTorch's ``AdamW``.

    One step, with η the learning rate, λ the weight decay and g the gradient::

        θ ← θ − η λ θ                                    (the weights only: see below)
        m ← β₁ m + (1 − β₁) g            v ← β₂ v + (1 − β₂) g²
        m̂ = m / (1 − β₁ᵗ)                v̂ = v / (1 − β₂ᵗ)          (t: step count)
        θ ← θ − η m̂ / (√v̂ + ε)

    The decay shrinks θ by the factor 1 − ηλ at each step, apart from the gradient:
    unlike an L2 penalty (α/2)‖W‖² added to J, whose gradient α W Adam would divide by
    √v̂ like any other, every weight decays at the same rate whatever its gradient's
    size. It applies to the weights that the network's penalty mask marks, not to the
    biases, as neuronet's :class:`~neuronet.regularizers.L2` spares them (and as the
    common practice with transformers does); ``decay_biases=True`` decays every
    parameter, as PyTorch does with all parameters in one group. An array stepped
    without a mask (``step(θ, g)``) is decayed whole.
    """

    _parameter_constraints = {**Adam._parameter_constraints,
                              "weight_decay": [Interval(Real, 0, None, closed="left")],
                              "decay_biases": ["boolean"]}

    def __init__(self, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8, weight_decay=0.01,
                 decay_biases=False, corrected_epsilon=True, *, clip_norm=None, clip_value=None):
        self.weight_decay, self.decay_biases = weight_decay, decay_biases
        super().__init__(learning_rate, beta1, beta2, epsilon, corrected_epsilon, clip_norm=clip_norm,
                         clip_value=clip_value)
        self.weight_decay, self.decay_biases = float(weight_decay), bool(decay_biases)
        self._mask, self._runs = None, []

    def get_config(self):
        return {**super().get_config(), "weight_decay": self.weight_decay, "decay_biases": self.decay_biases}

    def step(self, parameters, gradients, mask=None):
        """θ ← (1 − ηλ) θ on the weights, then Adam's step (see the class)."""
        if self.weight_decay:
            shrink = 1.0 - self.learning_rate * self.weight_decay  # a Python float: float32 stays float32
            if mask is None or self.decay_biases:
                parameters *= shrink
            else:
                for a, b in self._weights(mask):
                    parameters[a:b] *= shrink
        super().step(parameters, gradients, mask)

    def _weights(self, mask):
        """The runs [start, end) that the mask marks (each layer's weights are contiguous)."""
        if mask is not self._mask:
            edges = np.flatnonzero(np.diff(np.concatenate([[0], np.asarray(mask) != 0, [0]]).astype(np.int8)))
            self._mask, self._runs = mask, list(zip(edges[::2], edges[1::2]))
        return self._runs

    def __getstate__(self):
        return {**super().__getstate__(), "_mask": None, "_runs": []}


class RMSprop(Optimizer):
    """RMSprop: each step divided by a running root mean square of its gradients, as PyTorch's.

    One step, with η the learning rate and g the gradient::

        v ← ρ v + (1 − ρ) g²                          (a running mean of g², per parameter)
        d = √v + ε                                    plain
        ḡ ← ρ ḡ + (1 − ρ) g,   d = √(v − ḡ²) + ε      centered=True: the variance of g
        θ ← θ − η g / d                               without momentum
        b ← μ b + g / d,   θ ← θ − η b                with momentum μ

    A parameter whose gradients are large takes smaller steps, one whose gradients are
    small larger ones. ρ is PyTorch's ``alpha`` (Keras's ``rho``); the defaults are
    PyTorch's (η = 0.01, ρ = 0.99, ε = 10⁻⁸).
    """

    _parameter_constraints = {**Optimizer._parameter_constraints,
                              "rho": [Interval(Real, 0, 1, closed="left")],
                              "epsilon": [Interval(Real, 0, None, closed="neither")],
                              "momentum": [Interval(Real, 0, 1, closed="left")],
                              "centered": ["boolean"]}

    def __init__(self, learning_rate=0.01, rho=0.99, epsilon=1e-8, momentum=0.0, centered=False, *,
                 clip_norm=None, clip_value=None):
        self.rho, self.epsilon, self.momentum, self.centered = rho, epsilon, momentum, centered
        super().__init__(learning_rate, clip_norm=clip_norm, clip_value=clip_value)
        self.rho, self.epsilon, self.momentum = float(rho), float(epsilon), float(momentum)
        self.centered = bool(centered)

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon, "momentum": self.momentum,
                "centered": self.centered}

    def _update(self, parameters, gradients):
        square = self._slot("v", parameters)
        work = self._scratch(parameters)
        rest = 1.0 - self.rho
        square *= self.rho
        np.multiply(gradients, gradients, out=work)
        work *= rest
        square += work
        if self.centered:
            mean = self._slot("g_mean", parameters)
            mean *= self.rho
            mean += np.multiply(gradients, rest, out=work)
            np.multiply(mean, mean, out=work)
            np.subtract(square, work, out=work)
            np.sqrt(work, out=work)
        else:
            np.sqrt(square, out=work)
        work += self.epsilon
        np.divide(gradients, work, out=work)  # g / d
        if self.momentum:
            velocity = self._slot("b", parameters)
            velocity *= self.momentum
            velocity += work
            np.multiply(velocity, self.learning_rate, out=work)
        else:
            work *= self.learning_rate
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


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop}


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


# Schedules of steps: each is called as ``schedule(k, current_rate)`` and gives the rate of
# step k (k = 0, 1, …). What k counts is said where the schedule is used:
# ``LearningRateScheduler(schedule)`` counts epochs (the rate is set at each epoch's start),
# ``LearningRateScheduler(schedule, per="step")`` counts the optimizer's steps (the rate is set
# before every minibatch). Each is a function of k alone, so a resumed run gets the same rates.
_POSITIVE = [Interval(Real, 0, None, closed="neither")]
_STEPS = [Interval(Integral, 1, None, closed="left")]


def _described(schedule):
    """A schedule or a number as a fingerprint records it."""
    if isinstance(schedule, Real):
        return float(schedule)
    return {"schedule": type(schedule).__name__, **schedule.get_config()}


class StepDecay:
    """The rate divided in steps: η_k = η₀ · γ^⌊k / s⌋ (PyTorch's ``StepLR``).

    Every ``step_size`` (s) steps the rate is multiplied by ``gamma`` (γ)."""

    def __init__(self, initial_rate, step_size, gamma=0.1):
        validate_params({"initial_rate": _POSITIVE, "step_size": _STEPS,
                         "gamma": [Interval(Real, 0, 1, closed="right")]},
                        {"initial_rate": initial_rate, "step_size": step_size, "gamma": gamma}, "StepDecay")
        self.initial_rate, self.step_size, self.gamma = float(initial_rate), int(step_size), float(gamma)

    def __call__(self, step, rate=None):
        return self.initial_rate * self.gamma ** (int(step) // self.step_size)

    def get_config(self):
        return {"initial_rate": self.initial_rate, "step_size": self.step_size, "gamma": self.gamma}


class ExponentialDecay:
    """The rate multiplied by γ at every step: η_k = η₀ · γᵏ (PyTorch's ``ExponentialLR``)."""

    def __init__(self, initial_rate, gamma):
        validate_params({"initial_rate": _POSITIVE, "gamma": [Interval(Real, 0, 1, closed="right")]},
                        {"initial_rate": initial_rate, "gamma": gamma}, "ExponentialDecay")
        self.initial_rate, self.gamma = float(initial_rate), float(gamma)

    def __call__(self, step, rate=None):
        return self.initial_rate * self.gamma ** int(step)

    def get_config(self):
        return {"initial_rate": self.initial_rate, "gamma": self.gamma}


class WarmUp:
    """A linear warm-up of w steps, then another schedule (or a constant rate η).

    The rate of step k::

        η_k = η_after(0) · (s + (1 − s) · k / w)     for k < w
        η_k = η_after(k − w)                         for k ≥ w

    from a fraction s (``start_factor``) of the first rate up to it, as PyTorch's
    ``LinearLR(start_factor=s, total_iters=w)`` followed by the other schedule in a
    ``SequentialLR`` with the milestone w. Large early steps, before Adam's moments or the
    weights' scale have settled, can throw a network far off; the warm-up avoids them.
    """

    def __init__(self, after, warmup_steps, start_factor=1 / 3):
        validate_params({"warmup_steps": _STEPS, "start_factor": [Interval(Real, 0, 1, closed="both")]},
                        {"warmup_steps": warmup_steps, "start_factor": start_factor}, "WarmUp")
        if isinstance(after, Real) and not isinstance(after, bool):
            validate_params({"after": _POSITIVE}, {"after": after}, "WarmUp")
            after = float(after)
        elif not (callable(after) and callable(getattr(after, "get_config", None))):
            raise ValueError(f"WarmUp's after must be a learning rate (a positive number) or a schedule such as "
                             f"CosineDecay, got {after!r}")
        self.after, self.warmup_steps, self.start_factor = after, int(warmup_steps), float(start_factor)

    def _after(self, step, rate=None):
        return self.after if isinstance(self.after, float) else float(self.after(step, rate))

    def __call__(self, step, rate=None):
        step = int(step)
        if step >= self.warmup_steps:
            return self._after(step - self.warmup_steps, rate)
        fraction = self.start_factor + (1 - self.start_factor) * step / self.warmup_steps
        return self._after(0, rate) * fraction

    def get_config(self):
        return {"after": _described(self.after), "warmup_steps": self.warmup_steps,
                "start_factor": self.start_factor}


class OneCycle:
    """The one-cycle policy (Smith), as PyTorch's ``OneCycleLR``: up, then far down, in T steps.

    η rises from η_max / d to η_max over the first ``pct_start`` of the T steps, then falls to
    η_max / (d · d_f), each phase along a half cosine (or a line, ``anneal="linear"``)::

        η = η_end + (η_start − η_end) · ½ (1 + cos(π p))     p: the fraction of the phase done

    with d = ``div_factor`` and d_f = ``final_div_factor``; phase one ends at step
    pct_start · T − 1 (a fraction of a step, as in PyTorch), phase two at T − 1.
    ``three_phase=True`` comes back down to η_max / d symmetrically before the final fall.
    Made to count steps (``LearningRateScheduler(OneCycle(…), per="step")``, with T the
    epochs times the minibatches of an epoch); after T steps the rate stays at its last
    value. Only the rate cycles here (PyTorch's ``cycle_momentum=False``).
    """

    def __init__(self, max_rate, total_steps, pct_start=0.3, div_factor=25.0, final_div_factor=1e4,
                 anneal="cos", three_phase=False):
        validate_params({"max_rate": _POSITIVE, "total_steps": [Interval(Integral, 2, None, closed="left")],
                         "pct_start": [Interval(Real, 0, 1, closed="neither")],
                         "div_factor": _POSITIVE, "final_div_factor": _POSITIVE,
                         "anneal": [StrOptions({"cos", "linear"})], "three_phase": ["boolean"]},
                        {"max_rate": max_rate, "total_steps": total_steps, "pct_start": pct_start,
                         "div_factor": div_factor, "final_div_factor": final_div_factor, "anneal": anneal,
                         "three_phase": three_phase}, "OneCycle")
        self.max_rate, self.total_steps, self.pct_start = float(max_rate), int(total_steps), float(pct_start)
        self.div_factor, self.final_div_factor = float(div_factor), float(final_div_factor)
        self.anneal, self.three_phase = anneal, bool(three_phase)
        initial = self.max_rate / self.div_factor
        final = initial / self.final_div_factor
        up = self.pct_start * self.total_steps - 1
        if self.three_phase:
            self._phases = [(up, initial, self.max_rate), (2 * up, self.max_rate, initial),
                            (self.total_steps - 1, initial, final)]
        else:
            self._phases = [(up, initial, self.max_rate), (self.total_steps - 1, self.max_rate, final)]
        ends = [0] + [end for end, _, _ in self._phases]
        if any(later <= earlier for earlier, later in zip(ends, ends[1:])):
            raise ValueError(f"OneCycle's phases are empty with total_steps={self.total_steps} and "
                             f"pct_start={self.pct_start:g}: give more steps or another pct_start")

    def _annealed(self, start, end, fraction):
        if self.anneal == "linear":
            return (end - start) * fraction + start
        return end + (start - end) / 2.0 * (math.cos(math.pi * fraction) + 1)

    def __call__(self, step, rate=None):
        step, begin = min(int(step), self.total_steps - 1), 0
        for index, (end, start_rate, end_rate) in enumerate(self._phases):
            if step <= end or index == len(self._phases) - 1:
                return self._annealed(start_rate, end_rate, (step - begin) / (end - begin))
            begin = end
        raise AssertionError("unreachable")  # pragma: no cover

    def get_config(self):
        return {"max_rate": self.max_rate, "total_steps": self.total_steps, "pct_start": self.pct_start,
                "div_factor": self.div_factor, "final_div_factor": self.final_div_factor, "anneal": self.anneal,
                "three_phase": self.three_phase}
