"""Attention: every step of a sequence looks at every other step, and takes from each in
proportion to how well its query matches that step's key (Vaswani et al., 2017).

A batch of sequences is N × T × D: N samples, T steps, D features a step. Where a
convolution mixes a fixed neighbourhood with fixed weights, self-attention mixes all T
steps with weights computed from the data itself, a softmax over the scores of one step
against the others.
"""

from __future__ import annotations

import math
from numbers import Integral

import numpy as np

from ..initializers import check_initializer, initialize, initializer_name
from ..validation import Interval, check_parameter
from .base import Layer


def check_sequences(input_shape, layer):
    """ValueError unless samples are sequences, shaped (steps, features)."""
    if len(input_shape) != 2:
        raise ValueError(f"{layer} expects sequences shaped (steps, features), got sample shape {tuple(input_shape)}; "
                         "give input_shape=(T, D)")


class MultiHeadSelfAttention(Layer):
    """Multi-head self-attention over sequences: PyTorch's ``MultiheadAttention`` with the
    query, the key and the value all the same input.

    For one sample X (T steps × D features), h heads of width d = D/h, weights W_q, W_k,
    W_v, W_o (D × D) and biases b_q, b_k, b_v, b_o (D):

    Forward:   Q = X · W_q + b_q     K = X · W_k + b_k
               V = X · W_v + b_v
               Q_i, K_i, V_i = columns i·d … (i+1)·d − 1 of Q, K, V
               S_i = Q_i · K_iᵀ / √d + M
               A_i = softmax(S_i), row by row
               O_i = A_i · V_i       O = [O_1 … O_h]
               Y = O · W_o + b_o

    Q_i, K_i, V_i are head i's queries, keys and values (T × d). M is the mask: 0
    everywhere, or with ``causal=True``, −∞ above the diagonal (step t attends to itself
    and the steps before it alone: A_i is exactly 0 above its diagonal). Row t of A_i
    sums to 1: how much step t takes from each step's value.

    From G = ∂L/∂Y down to X, each head on its own until O is split:

    Backward:  ∂L/∂W_o = Oᵀ · G     ∂L/∂b_o = Σ_steps G
               ∂L/∂O = G · W_oᵀ
               ∂L/∂A_i = ∂L/∂O_i · V_iᵀ     ∂L/∂V_i = A_iᵀ · ∂L/∂O_i
               ∂L/∂S_i = A_i ⊙ (∂L/∂A_i − rowsum(∂L/∂A_i ⊙ A_i))
               ∂L/∂Q_i = ∂L/∂S_i · K_i / √d
               ∂L/∂K_i = ∂L/∂S_iᵀ · Q_i / √d
               ∂L/∂W_q = Xᵀ · ∂L/∂Q     ∂L/∂b_q = Σ_steps ∂L/∂Q
               ∂L/∂X = ∂L/∂Q · W_qᵀ + ∂L/∂K · W_kᵀ + ∂L/∂V · W_vᵀ

    with W_k, b_k, W_v, b_v as W_q and b_q, and the sums also over the batch's samples.
    The fourth line is the softmax's Jacobian, row by row: a = softmax(s) has
    ∂a_j/∂s_k = a_j (δ_jk − a_k), so ∂L/∂s_k = Σ_j ∂L/∂a_j · a_j (δ_jk − a_k) =
    a_k (∂L/∂a_k − Σ_j ∂L/∂a_j a_j). Where the mask put −∞, a_k = 0 and no gradient
    flows. X appears three times (as queries, keys and values), so its gradient is the
    sum of three products. The key's bias b_k adds Q_i[t] · b_k (head i's part of b_k)
    to every score of row t alike, which the softmax ignores: its gradient is 0 (to
    rounding), as in PyTorch; the other seven arrays learn.

    The layer has 4 (D·D + D) parameters (``query_weights``, ``query_bias``, ``key_…``,
    ``value_…``, ``output_…``), whatever h is: the heads split the D columns among
    themselves. PyTorch packs W_q, W_k, W_v into one ``in_proj_weight`` (3D × D, each
    block transposed: its Linear layers keep W as out × in) and W_o in ``out_proj``.

    Parameters
    ----------
    heads : int
        The number of heads h; it must divide the sequence's D features.
    causal : bool, default False
        Mask the future: step t attends to steps up to t alone (a decoder's, or a
        language model's, self-attention).
    initializer : str, callable or None
        The four weight matrices' initialiser (names as Dense's); None lets
        ``Sequential`` choose, as for Dense (Glorot uniform, PyTorch's choice for W_q, W_k,
        W_v, unless a rectifier follows). The biases start at zero.
    """

    cache = ("_x", "_q", "_k", "_v", "_a", "_o")

    regularized = ("query_weights", "key_weights", "value_weights", "output_weights")

    PROJECTIONS = ("query", "key", "value", "output")

    def __init__(self, heads, causal=False, initializer=None):
        super().__init__()
        check_parameter("heads", heads, [Interval(Integral, 1, None, closed="left")], "MultiHeadSelfAttention")
        if not isinstance(causal, (bool, np.bool_)):
            raise ValueError(f"MultiHeadSelfAttention's causal is True or False, not {causal!r}")
        self.heads = int(heads)
        self.causal = bool(causal)
        self.initializer = check_initializer(initializer, "MultiHeadSelfAttention")

    def build(self, input_shape, rng, dtype):
        check_sequences(input_shape, "MultiHeadSelfAttention")
        features = int(input_shape[1])
        if features % self.heads:
            raise ValueError(f"MultiHeadSelfAttention's {self.heads} heads do not split the {features} features of a "
                             f"step evenly: give a number of heads that divides {features}")
        super().build(input_shape, rng, dtype)
        for name in self.PROJECTIONS:
            self.params[f"{name}_weights"] = initialize(self.initializer or "glorot_uniform", (features, features),
                                                        features, features, rng, dtype)
            self.params[f"{name}_bias"] = np.zeros(features, dtype=dtype)

    def get_config(self):
        return {"heads": self.heads, "causal": self.causal, "initializer": initializer_name(self.initializer)}

    @property
    def head_width(self):
        """d = D / h, the width of each head's queries, keys and values."""
        return self.input_shape[1] // self.heads

    def mask(self, steps):
        """M as a T × T array of booleans, True where the score is −∞ (above the diagonal
        when causal), or None without a mask."""
        return np.triu(np.ones((steps, steps), dtype=bool), k=1) if self.causal else None

    def _split(self, z):
        """N × T × D → N × h × T × d: each head's columns, as a sequence of its own."""
        n, steps, _ = z.shape
        return z.reshape(n, steps, self.heads, -1).transpose(0, 2, 1, 3)

    @staticmethod
    def _merge(z):
        """N × h × T × d → N × T × D: the heads side by side again, [O_1 … O_h]."""
        n, _, steps, _ = z.shape
        return z.transpose(0, 2, 1, 3).reshape(n, steps, -1)

    def _project(self, x, name):
        """X · W + b over all the batch's steps at once (one matrix product)."""
        rows = x.reshape(-1, x.shape[-1]) @ self.params[f"{name}_weights"] + self.params[f"{name}_bias"]
        return rows.reshape(x.shape[0], x.shape[1], -1)

    def attention_weights(self, x):
        """A for a batch x: N × h × T × T, row t of head i the weights step t gives the steps."""
        return self._attention(self._split(self._project(x, "query")), self._split(self._project(x, "key")), x.dtype)

    def _attention(self, q, k, dtype):
        scores = (q @ k.swapaxes(-1, -2)) * dtype.type(1 / math.sqrt(q.shape[-1]))
        mask = self.mask(q.shape[2])
        if mask is not None:
            scores[..., mask] = -np.inf
        scores -= scores.max(axis=-1, keepdims=True)  # the diagonal is never masked: finite maxima
        weights = np.exp(scores)
        weights /= weights.sum(axis=-1, keepdims=True)
        return weights

    def forward(self, x, training=False):
        if x.ndim != 3 or x.shape[1:] != self.input_shape:
            raise ValueError(f"MultiHeadSelfAttention was built for sequences shaped {self.input_shape}, "
                             f"got a batch shaped {x.shape}")
        self._x = x
        self._q, self._k, self._v = (self._split(self._project(x, name)) for name in ("query", "key", "value"))
        self._a = self._attention(self._q, self._k, x.dtype)
        self._o = self._merge(self._a @ self._v)
        return self._project(self._o, "output")

    def backward(self, grad_y, input_grad=True):
        features = grad_y.shape[-1]
        g = grad_y.reshape(-1, features)
        np.matmul(self._o.reshape(-1, features).T, g, out=self._grad("output_weights"))
        np.sum(g, axis=0, out=self._grad("output_bias"))
        grad_o = self._split((g @ self.params["output_weights"].T).reshape(grad_y.shape))
        a = self._a
        grad_a = grad_o @ self._v.swapaxes(-1, -2)
        grad_v = a.swapaxes(-1, -2) @ grad_o
        grad_s = a * (grad_a - (grad_a * a).sum(axis=-1, keepdims=True))  # the softmax's Jacobian, row by row
        scale = grad_y.dtype.type(1 / math.sqrt(self._q.shape[-1]))
        grad_q = (grad_s @ self._k) * scale
        grad_k = (grad_s.swapaxes(-1, -2) @ self._q) * scale
        x = self._x.reshape(-1, features)
        grad_x = None
        for name, grad in (("query", grad_q), ("key", grad_k), ("value", grad_v)):
            grad = self._merge(grad).reshape(-1, features)
            np.matmul(x.T, grad, out=self._grad(f"{name}_weights"))
            np.sum(grad, axis=0, out=self._grad(f"{name}_bias"))
            if input_grad:
                term = grad @ self.params[f"{name}_weights"].T
                grad_x = term if grad_x is None else grad_x + term
        return grad_x.reshape(grad_y.shape) if input_grad else None


class PositionalEncoding(Layer):
    """The position of each step, added to its features: attention itself treats the
    steps as a set (permute them, and its outputs permute alike), so the order has to
    come in with the input.

    Forward:   Y = X + P        (P: T × D, one row per step)
    Backward:  ∂L/∂X = ∂L/∂Y
               ∂L/∂P = Σ_samples ∂L/∂Y     (a learned P only)

    ``kind="sinusoidal"`` (Vaswani et al., 2017): no parameters, the row of step t made of
    sines and cosines of t at D/2 frequencies, from one turn every 2π steps down to one
    every 2π·10000 steps,

    Forward:   P[t, 2i] = sin(t / 10000^(2i/D))
               P[t, 2i+1] = cos(t / 10000^(2i/D))

    for t = 0 … T − 1; each step gets a different row, and P[t + k] is a fixed rotation
    of P[t] for each offset k, which attention can learn to read. ``kind="learned"``: P
    is a parameter, ``positions`` (T·D numbers, drawn from N(0, 0.02²)), trained as the
    weights are (BERT's and GPT's choice). A network is built for one sequence length
    T, so P has exactly T rows. Scale the inputs to the size of P's entries (at most 1)
    before adding them, so that neither drowns the other.

    Parameters
    ----------
    kind : {"sinusoidal", "learned"}, default "sinusoidal"
    """

    cache = ()

    KINDS = ("sinusoidal", "learned")

    def __init__(self, kind="sinusoidal"):
        super().__init__()
        if kind not in self.KINDS:
            raise ValueError(f"PositionalEncoding's kind is 'sinusoidal' or 'learned', not {kind!r}")
        self.kind = kind

    def build(self, input_shape, rng, dtype):
        check_sequences(input_shape, "PositionalEncoding")
        super().build(input_shape, rng, dtype)
        steps, features = self.input_shape
        if self.kind == "learned":
            drawn = np.zeros((steps, features)) if rng is None else rng.normal(0.0, 0.02, size=(steps, features))
            self.params["positions"] = drawn.astype(dtype)
        else:
            self._table = self.sinusoids(steps, features).astype(dtype)

    @staticmethod
    def sinusoids(steps, features):
        """The sinusoidal P (steps × features), in float64."""
        t = np.arange(steps)[:, None]
        frequencies = 10000.0 ** (-(np.arange(features) // 2 * 2) / features)
        angles = t * frequencies
        return np.where(np.arange(features) % 2 == 0, np.sin(angles), np.cos(angles))

    @property
    def table(self):
        """P as the layer adds it."""
        return self.params["positions"] if self.kind == "learned" else self._table

    def get_config(self):
        return {"kind": self.kind}

    def forward(self, x, training=False):
        if x.shape[1:] != self.input_shape:
            raise ValueError(f"PositionalEncoding was built for sequences shaped {self.input_shape}, "
                             f"got a batch shaped {x.shape}")
        return x + self.table.astype(x.dtype, copy=False)

    def backward(self, grad_y, input_grad=True):
        if self.kind == "learned":
            np.sum(grad_y, axis=0, out=self._grad("positions"))
        return grad_y if input_grad else None
