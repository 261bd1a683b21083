"""Recurrent layers: one set of weights applied at every step of a sequence.

A recurrent layer reads a batch of sequences X (N samples × T steps × F features) one
step at a time, carrying a hidden state h (H numbers a sample) from step to step:
h_t depends on the input x_t and on h_{t−1}, through the same weights at every step,
as a convolution applies the same kernel at every position. The state starts at
h_0 = 0. With ``return_sequences=False`` the layer's output is the last state h_T
(N × H), what a Dense layer after it classifies; with ``return_sequences=True`` it is
every state (N × T × H), what another recurrent layer reads.

Backpropagation through time (BPTT) is the chain rule over the unrolled steps: the
backward pass walks the steps in reverse, and at each step the gradient reaching h_t is
what the output sends it plus what h_{t+1} sends back through the recurrent weights.
Shared weights collect the gradient of every step, as a convolution's kernel collects
every position's.

The batch is vectorised (one matrix product per step for all samples and all gates);
the loop over the T steps is the algorithm. The input's part of every step's gates,
X · W + b, is one product for all steps at once before the loop; the recurrent part,
h_{t−1} · U, is one product per step; ∂L/∂W, ∂L/∂U and ∂L/∂X are one product each
after the backward loop. Row-vector convention, as :class:`~neuronet.layers.Dense`:
x_t is a row of F numbers, W is F × (gates·H), U is H × (gates·H). The LSTM, whose
products are most of its time, keeps its steps feature-major (one column per sample)
and makes each step's gates in one product of [U; W; b] with [h_{t−1}; x_t; 1], the
product shaped as BLAS multiplies fastest (the same function, summed in another order).
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np

from ..initializers import initialize
from ..validation import Interval, check_parameter
from .base import Layer


def sigmoid_in_place(z):
    """σ(z) = ½·tanh(½·z) + ½, written over z: the same function as 1 / (1 + e^(−z)), from
    NumPy's vectorised tanh, which is several times faster than an exponential and a
    division (and overflows for no z)."""
    z *= 0.5
    np.tanh(z, out=z)
    z *= 0.5
    z += 0.5
    return z


class Recurrent(Layer):
    """What RNN, LSTM and GRU share: the shapes, the parameters' layout, the input's
    product for all steps, and the workspace reused from batch to batch."""

    gates = 1
    regularized = ("weights", "recurrent_weights")
    cache = ("_work", "_final")  # the last batch's inputs, states and gates; the last states

    def __init__(self, units, return_sequences=False):
        super().__init__()
        name = type(self).__name__
        check_parameter("units", units, [Interval(Integral, 1, None, closed="left")], name)
        check_parameter("return_sequences", return_sequences, ["boolean"], name)
        self.units = int(units)
        self.return_sequences = bool(return_sequences)

    def get_config(self):
        return {"units": self.units, "return_sequences": self.return_sequences}

    def _check_shape(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(f"{type(self).__name__} expects sequences shaped (steps, features) a sample, got sample "
                             f"shape {tuple(input_shape)}; give input_shape=(steps, features)")

    def output_shape(self, input_shape):
        self._check_shape(input_shape)
        return (int(input_shape[0]), self.units) if self.return_sequences else (self.units,)

    def build(self, input_shape, rng, dtype):
        self._check_shape(input_shape)
        super().build(input_shape, rng, dtype)
        features, hidden, width = self.input_shape[1], self.units, self.gates * self.units
        self.params["weights"] = initialize("glorot_uniform", (features, width), features, width, rng, dtype)
        # one orthogonal H × H block per gate: multiplying by it keeps a state's length, so a
        # state carried through many steps neither dies out nor blows up at the start
        self.params["recurrent_weights"] = np.concatenate(
            [initialize("orthogonal", (hidden, hidden), hidden, hidden, rng, dtype) for _ in range(self.gates)], axis=1)
        self.params["bias"] = initialize("zeros", (width,), features, width, rng, dtype)

    # --- shared steps -----------------------------------------------------------
    def _buffer(self, name, shape, dtype):
        """An array of ``shape`` kept between batches (contents left as they were)."""
        work = self.__dict__.setdefault("_work", {})
        array = work.get(name)
        if array is None or array.shape != shape or array.dtype != dtype:
            array = work[name] = np.empty(shape, dtype=dtype)
        return array

    def _input_part(self, x):
        """The sequence step-major (T × N × F), each step's row followed by a 1, and
        A = X · W + b for every step at once (T × N × gates·H), one product of [x_t, 1] with
        W stacked on b."""
        self._check_input(x)
        n, steps, features = x.shape
        dtype = np.result_type(x.dtype, self.params["weights"].dtype)
        xs = self._buffer("x", (steps, n, features + 1), dtype)
        xs[:, :, :features] = x.transpose(1, 0, 2)
        xs[:, :, features] = 1  # the bias's input
        weights = self._weights_and_bias(features, dtype)
        a = self._buffer("a", (steps, n, weights.shape[1]), dtype)
        np.matmul(xs.reshape(steps * n, features + 1), weights, out=a.reshape(steps * n, -1))
        return xs, a

    def _check_input(self, x):
        if x.ndim != 3 or tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(f"{type(self).__name__} expects a batch of sequences shaped (samples, "
                             f"{', '.join(map(str, self.input_shape))}), got {tuple(x.shape)}")

    def _weights_and_bias(self, features, dtype):
        """W stacked on b ((F + 1) × gates·H), in a workspace kept between batches."""
        weights = self._buffer("weights_and_bias", (features + 1, self.gates * self.units), dtype)
        weights[:features], weights[features] = self.params["weights"], self.params["bias"]
        return weights

    def _states(self, steps, n, dtype):
        """h_0 … h_T (T + 1 × N × H), h_0 = 0."""
        hs = self._buffer("h", (steps + 1, n, self.units), dtype)
        hs[0] = 0
        return hs

    def _output(self, hs):
        """The layer's output from the states h_1 … h_T: fresh arrays (the next layer keeps them)."""
        self._final = (hs[-1].copy(),)
        if self.return_sequences:  # a copy even where the view is contiguous (one sample)
            return hs[1:].transpose(1, 0, 2).copy()
        return hs[-1].copy()

    def _output_gradients(self, grad_out, steps):
        """∂L/∂out_t, step-major (T × N × H), or for the last step alone (N × H) without
        ``return_sequences``."""
        expected = (steps, self.units) if self.return_sequences else (self.units,)
        if tuple(grad_out.shape[1:]) != expected:
            raise ValueError(f"{type(self).__name__}.backward expects gradients shaped (samples, "
                             f"{', '.join(map(str, expected))}), got {tuple(grad_out.shape)}")
        return grad_out.transpose(1, 0, 2) if self.return_sequences else grad_out

    def _receive(self, grad_h, from_output, t, steps):
        """Add to ∂L/∂h_t what the layer's output sends it: at every step with
        ``return_sequences``, at the last step alone otherwise."""
        if self.return_sequences:
            grad_h += from_output[t]
        elif t == steps - 1:
            grad_h += from_output

    def _parameter_gradients(self, xs, hs, grad_a, grad_u=None, input_grad=True):
        """∂L/∂W = Σ_t x_tᵀ · ∂L/∂a_t, ∂L/∂U = Σ_t h_{t−1}ᵀ · ∂L/∂u_t, ∂L/∂b = Σ_t Σ_rows ∂L/∂a_t
        (each one product over all steps: ∂L/∂W and ∂L/∂b together, b's row from the
        inputs' column of ones), and ∂L/∂X = ∂L/∂A · Wᵀ (sample-major)."""
        steps, n, inputs = xs.shape  # the features and the 1
        flat_a = grad_a.reshape(steps * n, -1)
        flat_u = flat_a if grad_u is None else grad_u.reshape(steps * n, -1)
        weights_and_bias = xs.reshape(steps * n, inputs).T @ flat_a
        self._grad("weights")[...], self._grad("bias")[...] = weights_and_bias[:-1], weights_and_bias[-1]
        # h_0 = 0: the first step adds nothing to ∂L/∂U
        np.matmul(hs[1:-1].reshape((steps - 1) * n, self.units).T, flat_u[n:], out=self._grad("recurrent_weights"))
        if not input_grad:
            return None
        grad_x = flat_a @ self.params["weights"].T
        return np.ascontiguousarray(grad_x.reshape(steps, n, inputs - 1).transpose(1, 0, 2))

    @property
    def final_state(self):
        """The states after the last step of the last forward pass: (h_T,) for RNN and
        GRU, (h_T, c_T) for LSTM; each N × H."""
        if "_final" not in self.__dict__:
            raise ValueError(f"{type(self).__name__} has no final state: run a forward pass first")
        return self._final


class RNN(Recurrent):
    """The simple (Elman) recurrent layer: one tanh neuron layer fed its own last output.

    With x_t the inputs at step t (a row of F numbers), W (F × H), U (H × H), b (H):

    Forward:   z_t = x_t · W + h_{t−1} · U + b        h_t = tanh(z_t)        h_0 = 0
    Backward:  ∂L/∂h_t = ∂L/∂out_t + ∂L/∂z_{t+1} · Uᵀ        ∂L/∂z_t = ∂L/∂h_t ⊙ (1 − h_t²)
               ∂L/∂W = Σ_t x_tᵀ · ∂L/∂z_t      ∂L/∂U = Σ_t h_{t−1}ᵀ · ∂L/∂z_t
               ∂L/∂b = Σ_t Σ_rows ∂L/∂z_t      ∂L/∂x_t = ∂L/∂z_t · Wᵀ

    ∂L/∂out_t is the gradient the layer's output sends to h_t: every step's with
    ``return_sequences=True``, the last step's alone otherwise. The layer has
    H·(F + H + 1) parameters (PyTorch's ``nn.RNN`` keeps two biases, b_ih + b_hh, whose
    sum is b). W starts Glorot-uniform, U orthogonal, b at zero. After a forward pass,
    ``final_state`` is (h_T,).

    Parameters
    ----------
    units : int
        The size H of the hidden state.
    return_sequences : bool, default False
        Output every state h_1 … h_T (N × T × H) rather than the last one (N × H).
    """

    def forward(self, x, training=False):
        xs, z = self._input_part(x)
        steps, n, _ = xs.shape
        hs = self._states(steps, n, z.dtype)
        recurrent = self.params["recurrent_weights"]
        for t in range(steps):
            if t:
                z[t] += hs[t] @ recurrent
            np.tanh(z[t], out=hs[t + 1])
        return self._output(hs)

    def backward(self, grad_out, input_grad=True):
        work = self._work
        xs, hs = work["x"], work["h"]
        steps, n, _ = xs.shape
        grad_z = self._buffer("grad_a", (steps, n, self.units), hs.dtype)
        from_output = self._output_gradients(grad_out, steps)
        recurrent_t = np.ascontiguousarray(self.params["recurrent_weights"].T)  # BLAS reads it faster so
        grad_h = np.zeros((n, self.units), dtype=hs.dtype)
        for t in range(steps - 1, -1, -1):
            self._receive(grad_h, from_output, t, steps)
            h = hs[t + 1]
            np.multiply(h, h, out=grad_z[t])
            np.subtract(1, grad_z[t], out=grad_z[t])
            grad_z[t] *= grad_h  # ∂L/∂z_t = ∂L/∂h_t ⊙ (1 − h_t²)
            if t:
                np.matmul(grad_z[t], recurrent_t, out=grad_h)
        return self._parameter_gradients(xs, hs, grad_z, input_grad=input_grad)


class LSTM(Recurrent):
    """Long short-term memory: a cell state c carried by gates that learn what to keep.

    Four gates, each a layer of neurons over [x_t, h_{t−1}], in PyTorch's order i, f, g, o
    (the columns of W, U and b are four blocks of H):

    Forward:   i_t = σ(x_t·W_i + h_{t−1}·U_i + b_i)      (input gate)
               f_t = σ(x_t·W_f + h_{t−1}·U_f + b_f)      (forget gate)
               g_t = tanh(x_t·W_g + h_{t−1}·U_g + b_g)   (candidate)
               o_t = σ(x_t·W_o + h_{t−1}·U_o + b_o)      (output gate)
               c_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t        h_t = o_t ⊙ tanh(c_t)        h_0 = c_0 = 0
    Backward:  ∂L/∂h_t = ∂L/∂out_t + ∂L/∂z_{t+1} · Uᵀ        (z_t: the four gates' sums)
               ∂L/∂c_t = ∂L/∂c_{t+1} ⊙ f_{t+1} + ∂L/∂h_t ⊙ o_t ⊙ (1 − tanh²(c_t))
               ∂L/∂z_o = ∂L/∂h_t ⊙ tanh(c_t) ⊙ o_t(1 − o_t)
               ∂L/∂z_i = ∂L/∂c_t ⊙ g_t ⊙ i_t(1 − i_t)
               ∂L/∂z_f = ∂L/∂c_t ⊙ c_{t−1} ⊙ f_t(1 − f_t)
               ∂L/∂z_g = ∂L/∂c_t ⊙ i_t ⊙ (1 − g_t²)
               ∂L/∂W = Σ_t x_tᵀ · ∂L/∂z_t      ∂L/∂U = Σ_t h_{t−1}ᵀ · ∂L/∂z_t
               ∂L/∂b = Σ_t Σ_rows ∂L/∂z_t      ∂L/∂x_t = ∂L/∂z_t · Wᵀ

    The cell's own path, c_{t−1} → c_t, is a product by f_t and no squashing: a gradient
    passes many steps back as long as the forget gates stay open, where a simple RNN's
    shrinks by U and tanh' at every step.

    One bias per gate, as the lecture's neurons have: 4·H·(F + H + 1) parameters
    (PyTorch's ``nn.LSTM`` keeps two, b_ih + b_hh, whose sum is b). W starts
    Glorot-uniform, each gate's block of U orthogonal, b at zero but for the forget gate's,
    at ``forget_bias`` (1 by default, Jozefowicz et al. 2015: the cell starts by
    remembering; PyTorch starts it at 0). After a forward pass, ``final_state`` is
    (h_T, c_T).

    Parameters
    ----------
    units : int
        The size H of the hidden state and of the cell state.
    return_sequences : bool, default False
        Output every state h_1 … h_T (N × T × H) rather than the last one (N × H).
    forget_bias : float, default 1.0
        The forget gate's initial bias b_f.
    """

    gates = 4

    def __init__(self, units, return_sequences=False, forget_bias=1.0):
        super().__init__(units, return_sequences)
        check_parameter("forget_bias", forget_bias, [Interval(Real, None, None, closed="neither")], "LSTM")
        self.forget_bias = float(forget_bias)

    def get_config(self):
        return {**super().get_config(), "forget_bias": self.forget_bias}

    def build(self, input_shape, rng, dtype):
        super().build(input_shape, rng, dtype)
        if rng is not None:
            self.params["bias"][self.units : 2 * self.units] = self.forget_bias

    def forward(self, x, training=False):
        self._check_input(x)
        n, steps, features = x.shape
        size, dtype = self.units, np.result_type(x.dtype, self.params["weights"].dtype)
        # every step's gates from one product, of [U; W; b] with [h_{t−1}; x_t; 1] (the
        # neurons' inputs: the last state, the step's input and a 1 for the bias), stored
        # feature-major, one column per sample: the product has N columns, the shape BLAS
        # multiplies fastest, and each gate's block of rows is one run of memory
        inputs = self._buffer("inputs", (size + features + 1, steps, n), dtype)  # [h_{t−1}; x_t; 1], step by step
        inputs[:size, 0] = 0  # h_0
        inputs[size:-1] = x.transpose(2, 1, 0)
        inputs[-1] = 1
        # σ(z) = ½·tanh(½·z) + ½ for i, f, o, and tanh(z) for g: one tanh over each step's
        # four gates at once, of ½·z for the sigmoids, made by halving their rows of the
        # weights (exactly: a product by ½ rounds as the product it halves)
        scale = np.repeat(np.array([0.5, 0.5, 1.0, 0.5], dtype=dtype), size)[:, None]
        weights_t = self._buffer("weights_t", (4 * size, inputs.shape[0]), dtype)  # ([U; W; b] ⊙ scale)ᵀ
        for start in range(0, size, 16):  # Uᵀ strip by strip of U's rows: a transposed copy that stays in the cache
            rows = slice(start, min(start + 16, size))
            np.multiply(self.params["recurrent_weights"][rows].T, scale, out=weights_t[:, rows])
        np.multiply(self.params["weights"].T, scale, out=weights_t[:, size:-1])
        np.multiply(self.params["bias"], scale[:, 0], out=weights_t[:, -1])
        gates = self._buffer("gates", (steps, 4 * size, n), dtype)  # the sums, made the gates' values in place
        cs = self._buffer("c", (steps + 1, size, n), dtype)
        tanh_c = self._buffer("tanh_c", (steps, size, n), dtype)
        h_last, ig = self._buffer("h_last", (size, n), dtype), self._buffer("product", (size, n), dtype)
        cs[0] = 0
        for t in range(steps):
            z = gates[t]
            if t:
                np.matmul(weights_t, inputs[:, t], out=z)
            else:  # h_0 = 0
                np.matmul(weights_t[:, size:], inputs[size:, 0], out=z)
            np.tanh(z, out=z)
            for sigmoid in (z[: 2 * size], z[3 * size :]):  # i, f and o: ½·tanh(½·z) + ½
                sigmoid *= 0.5
                sigmoid += 0.5
            i, f, g, o = z[:size], z[size : 2 * size], z[2 * size : 3 * size], z[3 * size :]
            c = cs[t + 1]
            np.multiply(f, cs[t], out=c)
            np.multiply(i, g, out=ig)
            c += ig
            np.tanh(c, out=tanh_c[t])
            np.multiply(o, tanh_c[t], out=inputs[:size, t + 1] if t + 1 < steps else h_last)
        self._final = (h_last.T.copy(), cs[-1].T.copy())
        if self.return_sequences:  # h_1 … h_T, sample-major
            return np.concatenate([inputs[:size, 1:], h_last[:, None]], axis=1).transpose(2, 1, 0).copy()
        return h_last.T.copy()

    def backward(self, grad_out, input_grad=True):
        work = self._work
        inputs, cs, gates, tanh_c = work["inputs"], work["c"], work["gates"], work["tanh_c"]
        _, steps, n = inputs.shape
        size, dtype = self.units, inputs.dtype
        grad_z = self._buffer("grad_z", (4 * size, steps, n), dtype)  # feature-major, as the inputs
        scratch = self._buffer("scratch", (size, n), dtype)
        scratch4 = self._buffer("scratch4", (4 * size, n), dtype)
        derivative = self._buffer("derivative", (4 * size, n), dtype)
        from_output = self._output_gradients(grad_out, steps)
        recurrent = self.params["recurrent_weights"]
        grad_h = np.zeros((size, n), dtype=dtype)
        grad_c = np.zeros((size, n), dtype=dtype)
        # each gate's derivative a'(z) from its value a, a·(1 − a) for the sigmoids i, f, o
        # and 1 − a² for the tanh g (made step by step, while the step's gates are in the
        # cache); and, for every step at once since it does not wait for the steps before
        # it, o_t ⊙ (1 − tanh²(c_t)), the path from h_t to c_t
        sigmoids = (slice(0, 2 * size), slice(3 * size, 4 * size))  # i and f, o
        h_to_c = self._buffer("h_to_c", tanh_c.shape, dtype)
        np.multiply(tanh_c, tanh_c, out=h_to_c)
        np.subtract(1, h_to_c, out=h_to_c)
        h_to_c *= gates[:, 3 * size :]
        for t in range(steps - 1, -1, -1):
            self._receive(grad_h.T, from_output, t, steps)
            z, dz = gates[t], grad_z[:, t]
            i, f, g = z[:size], z[size : 2 * size], z[2 * size : 3 * size]
            # ∂L/∂c_t = ∂L/∂c_{t+1} ⊙ f_{t+1} + ∂L/∂h_t ⊙ o_t ⊙ (1 − tanh²(c_t))
            np.multiply(grad_h, h_to_c[t], out=scratch)
            grad_c += scratch
            # ∂L/∂a for a = i, f, g, o: ∂L/∂c_t ⊙ g, ∂L/∂c_t ⊙ c_{t−1}, ∂L/∂c_t ⊙ i, ∂L/∂h_t ⊙ tanh(c_t)
            np.multiply(grad_c, g, out=scratch4[:size])
            np.multiply(grad_c, cs[t], out=scratch4[size : 2 * size])
            np.multiply(grad_c, i, out=scratch4[2 * size : 3 * size])
            np.multiply(grad_h, tanh_c[t], out=scratch4[3 * size :])
            for rows in sigmoids:  # a'(z) = a·(1 − a)
                np.subtract(1, z[rows], out=derivative[rows])
                derivative[rows] *= z[rows]
            np.multiply(g, g, out=derivative[2 * size : 3 * size])
            np.subtract(1, derivative[2 * size : 3 * size], out=derivative[2 * size : 3 * size])  # a'(z) = 1 − a²
            np.multiply(scratch4, derivative, out=dz)  # ∂L/∂z = ∂L/∂a ⊙ a'(z)
            grad_c *= f  # the cell's own path back to ∂L/∂c_{t−1}
            if t:
                np.matmul(recurrent, dz, out=grad_h)  # ∂L/∂h_{t−1} = U · ∂L/∂z_t (feature-major)
        # ∂L/∂[U; W; b] = Σ_t [h_{t−1}; x_t; 1] · ∂L/∂z_tᵀ, one product over the steps after the
        # first, whose h_0 = 0 adds nothing to ∂L/∂U: its [x_1; 1] · ∂L/∂z_1ᵀ added apart
        flat_z = grad_z.reshape(4 * size, -1)
        total = inputs[:, 1:].reshape(inputs.shape[0], -1) @ flat_z[:, n:].T
        total[size:] += inputs[size:, 0] @ grad_z[:, 0].T
        self._grad("recurrent_weights")[...] = total[:size]
        self._grad("weights")[...], self._grad("bias")[...] = total[size:-1], total[-1]
        if not input_grad:
            return None
        grad_x = self.params["weights"] @ flat_z  # ∂L/∂x_t = W · ∂L/∂z_t (feature-major), every step at once
        return np.ascontiguousarray(grad_x.reshape(-1, steps, n).transpose(2, 1, 0))


class GRU(Recurrent):
    """Gated recurrent unit (Cho et al. 2014), PyTorch's variant: a reset gate r and an
    update gate z, and no cell state apart from h.

    Gates in PyTorch's order r, z, n (the columns of W, U and b are three blocks of H);
    u_t = h_{t−1} · U, split the same way:

    Forward:   r_t = σ(x_t·W_r + u_r + b_r)                       (reset gate)
               z_t = σ(x_t·W_z + u_z + b_z)                       (update gate)
               n_t = tanh(x_t·W_n + b_n + r_t ⊙ (u_n + b_hn))      (candidate)
               h_t = (1 − z_t) ⊙ n_t + z_t ⊙ h_{t−1}        h_0 = 0
    Backward:  ∂L/∂h_t = ∂L/∂out_t + ∂L/∂h_{t+1} ⊙ z_{t+1} + ∂L/∂u_{t+1} · Uᵀ
               ∂L/∂a_n = ∂L/∂h_t ⊙ (1 − z_t) ⊙ (1 − n_t²)
               ∂L/∂a_z = ∂L/∂h_t ⊙ (h_{t−1} − n_t) ⊙ z_t(1 − z_t)
               ∂L/∂a_r = ∂L/∂a_n ⊙ (u_n + b_hn) ⊙ r_t(1 − r_t)
               ∂L/∂u_r = ∂L/∂a_r      ∂L/∂u_z = ∂L/∂a_z      ∂L/∂u_n = ∂L/∂a_n ⊙ r_t
               ∂L/∂W = Σ_t x_tᵀ · ∂L/∂a_t      ∂L/∂b = Σ_t Σ_rows ∂L/∂a_t
               ∂L/∂U = Σ_t h_{t−1}ᵀ · ∂L/∂u_t      ∂L/∂b_hn = Σ_t Σ_rows ∂L/∂u_n
               ∂L/∂x_t = ∂L/∂a_t · Wᵀ

    where a_t = x_t·W + b is the input's part of the three sums. The candidate's
    recurrent bias b_hn sits inside the reset gate's product, so it cannot merge with
    b_n; the other two pairs of PyTorch's biases do (b_r = b_ir + b_hr, b_z = b_iz + b_hz).
    The layer has 3·H·(F + H + 1) + H parameters: W (F × 3H), U (H × 3H), b (3H) and
    b_hn (H), PyTorch's 3·H·(F + H) + 6·H less the 2·H that are sums of others. W starts
    Glorot-uniform, each gate's block of U orthogonal, the biases at zero. After a forward
    pass, ``final_state`` is (h_T,).

    Parameters
    ----------
    units : int
        The size H of the hidden state.
    return_sequences : bool, default False
        Output every state h_1 … h_T (N × T × H) rather than the last one (N × H).
    """

    gates = 3

    def build(self, input_shape, rng, dtype):
        super().build(input_shape, rng, dtype)
        self.params["recurrent_bias"] = initialize("zeros", (self.units,), self.units, self.units, rng, dtype)

    def forward(self, x, training=False):
        xs, a = self._input_part(x)
        steps, n, _ = xs.shape
        size, dtype = self.units, a.dtype
        hs = self._states(steps, n, dtype)
        u = self._buffer("u", (steps, n, 3 * size), dtype)  # h_{t−1}·U (+ b_hn on the n block)
        gates = self._buffer("gates", (steps, n, 3 * size), dtype)  # r, z, n
        scratch = self._buffer("scratch", (n, size), dtype)
        recurrent, recurrent_bias = self.params["recurrent_weights"], self.params["recurrent_bias"]
        for t in range(steps):
            ut, gt = u[t], gates[t]
            np.matmul(hs[t], recurrent, out=ut)
            ut[:, 2 * size :] += recurrent_bias
            np.add(a[t, :, : 2 * size], ut[:, : 2 * size], out=gt[:, : 2 * size])
            sigmoid_in_place(gt[:, : 2 * size])  # r, z
            r, z, cand = gt[:, :size], gt[:, size : 2 * size], gt[:, 2 * size :]
            np.multiply(r, ut[:, 2 * size :], out=cand)
            cand += a[t, :, 2 * size :]
            np.tanh(cand, out=cand)  # n
            # h_t = n + z ⊙ (h_{t−1} − n)
            np.subtract(hs[t], cand, out=scratch)
            scratch *= z
            np.add(cand, scratch, out=hs[t + 1])
        return self._output(hs)

    def backward(self, grad_out, input_grad=True):
        work = self._work
        xs, hs, u, gates = work["x"], work["h"], work["u"], work["gates"]
        steps, n, _ = xs.shape
        size, dtype = self.units, hs.dtype
        grad_a = self._buffer("grad_a", (steps, n, 3 * size), dtype)
        grad_u = self._buffer("grad_u", (steps, n, 3 * size), dtype)
        scratch = self._buffer("scratch", (n, size), dtype)
        from_output = self._output_gradients(grad_out, steps)
        recurrent_t = np.ascontiguousarray(self.params["recurrent_weights"].T)  # BLAS reads it faster so
        grad_h = np.zeros((n, size), dtype=dtype)
        for t in range(steps - 1, -1, -1):
            self._receive(grad_h, from_output, t, steps)
            gt, da, du = gates[t], grad_a[t], grad_u[t]
            r, z, cand = gt[:, :size], gt[:, size : 2 * size], gt[:, 2 * size :]
            da_r, da_z, da_n = da[:, :size], da[:, size : 2 * size], da[:, 2 * size :]
            # ∂L/∂a_n = ∂L/∂h ⊙ (1 − z) ⊙ (1 − n²)
            np.multiply(cand, cand, out=da_n)
            np.subtract(1, da_n, out=da_n)
            np.subtract(1, z, out=scratch)
            da_n *= scratch
            da_n *= grad_h
            # ∂L/∂a_z = ∂L/∂h ⊙ (h_{t−1} − n) ⊙ z(1 − z)
            np.subtract(hs[t], cand, out=da_z)
            da_z *= grad_h
            np.subtract(1, z, out=scratch)
            scratch *= z
            da_z *= scratch
            # ∂L/∂a_r = ∂L/∂a_n ⊙ (u_n + b_hn) ⊙ r(1 − r)
            np.subtract(1, r, out=da_r)
            da_r *= r
            da_r *= u[t, :, 2 * size :]
            da_r *= da_n
            du[:, : 2 * size] = da[:, : 2 * size]
            np.multiply(da_n, r, out=du[:, 2 * size :])
            if t:  # ∂L/∂h_{t−1} = ∂L/∂h ⊙ z + ∂L/∂u · Uᵀ
                grad_h *= z
                np.matmul(du, recurrent_t, out=scratch)
                grad_h += scratch
        np.sum(grad_u[:, :, 2 * size :], axis=(0, 1), out=self._grad("recurrent_bias"))
        return self._parameter_gradients(xs, hs, grad_a, grad_u, input_grad=input_grad)
