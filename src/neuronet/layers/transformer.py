"""The transformer's encoder block, built from the pieces: layer normalisation,
multi-head self-attention, a feed-forward network applied to every step, and two
residual connections around them."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np

from ..validation import Interval, check_parameter
from .activations import ReLU
from .attention import MultiHeadSelfAttention, check_sequences
from .base import Layer
from .dense import Dense
from .dropout import Dropout
from .normalization import LayerNorm
from .residual import Residual, _Nested
from .steps import TimeDistributed


class TransformerEncoderBlock(Layer):
    """A transformer encoder block over sequences N × T × D (PyTorch's
    ``TransformerEncoderLayer(batch_first=True, activation="relu")``): attention mixes the
    steps, then a two-layer network transforms each step on its own.

    Pre-norm (``norm_first=True``, the default), each sub-layer's input normalised and its
    output added to what came in:

    Forward:   H = X + Dropout(MHSA(LN₁(X)))
               Y = H + Dropout(FFN(LN₂(H)))
               FFN(Z) = Dropout(ReLU(Z · W₁ + b₁)) · W₂ + b₂

    the feed-forward network FFN taking each step from D to ``hidden`` features and back.

    Post-norm (``norm_first=False``, the original transformer's and PyTorch's default), the
    sums normalised instead:

    Forward:   H = LN₁(X + Dropout(MHSA(X)))
               Y = LN₂(H + Dropout(FFN(H)))

    Backward is the chain rule through the parts, each with its own backward
    (:class:`MultiHeadSelfAttention`, :class:`LayerNorm`, :class:`TimeDistributed`); a
    residual connection H = X + F(X) adds the gradient that reaches it to what its
    branch returns (see :class:`Residual`):

    Backward:  ∂L/∂X = ∂L/∂H + (∂F/∂X)ᵀ · ∂L/∂H

    Pre-norm is the default: the shortcut then carries the input unchanged from block to
    block (no normalisation on the main path), and a stack of blocks trains without the
    learning-rate warm-up that post-norm needs (Xiong et al., 2020); GPT-2 and most later
    models use it.

    Its parts, with pre-norm: ``attention``, the residual block [LN₁, MHSA, Dropout], and
    ``feedforward``, [LN₂, TimeDistributed(Dense(hidden)), ReLU, Dropout,
    TimeDistributed(Dense(D)), Dropout]; with post-norm: ``attention`` [MHSA, Dropout],
    ``norm1``, ``feedforward`` (the same without LN₂) and ``norm2``; parameters are named by part ("attention/1/query_weights",
    "feedforward/1/weights"). It has 4(D·D + D) + (D·hidden + hidden) + (hidden·D + D) +
    2·2D parameters. PyTorch's block also drops attention weights at random (its
    ``dropout`` inside ``MultiheadAttention``); this one drops the sub-layers' outputs and
    the hidden units alone, the same with ``dropout=0``.

    Parameters
    ----------
    heads : int
        Attention heads h (dividing D).
    hidden : int
        The feed-forward network's hidden width (PyTorch's ``dim_feedforward``), often 4D.
    dropout : float, default 0.0
        The rate of the three Dropout layers.
    causal : bool, default False
        Each step attends to itself and the steps before it alone.
    norm_first : bool, default True
        Pre-norm (True) or post-norm (False).
    """

    cache = ()

    def __init__(self, heads, hidden, dropout=0.0, causal=False, norm_first=True):
        super().__init__()
        check_parameter("heads", heads, [Interval(Integral, 1, None, closed="left")], "TransformerEncoderBlock")
        check_parameter("hidden", hidden, [Interval(Integral, 1, None, closed="left")], "TransformerEncoderBlock")
        check_parameter("dropout", dropout, [Interval(Real, 0, 1, closed="left")], "TransformerEncoderBlock")
        for name, value in (("causal", causal), ("norm_first", norm_first)):
            if not isinstance(value, (bool, np.bool_)):
                raise ValueError(f"TransformerEncoderBlock's {name} is True or False, not {value!r}")
        self.heads, self.hidden, self.dropout = int(heads), int(hidden), float(dropout)
        self.causal, self.norm_first = bool(causal), bool(norm_first)
        self.parts = []  # (name, layer), made when the block is built (the last Dense needs D)
        self._rng = None
        self._views()

    def _views(self):
        self.params, self.grads, self.buffers = (_Nested(self, kind) for kind in ("params", "grads", "buffers"))

    def _parts(self):
        return self.parts

    def make_parts(self, features):
        """The parts for steps of ``features`` D (not built)."""
        attention = [MultiHeadSelfAttention(self.heads, causal=self.causal), Dropout(self.dropout)]
        feedforward = [TimeDistributed(Dense(self.hidden, initializer="he_normal")), ReLU(), Dropout(self.dropout),
                       TimeDistributed(Dense(features, initializer="glorot_uniform")), Dropout(self.dropout)]
        if self.norm_first:
            return [("attention", Residual([LayerNorm(), *attention])),
                    ("feedforward", Residual([LayerNorm(), *feedforward]))]
        return [("attention", Residual(attention)), ("norm1", LayerNorm()),
                ("feedforward", Residual(feedforward)), ("norm2", LayerNorm())]

    @property
    def regularized(self):
        """The parts' weights, by their names here ("attention/1/query_weights"), not the
        biases nor LayerNorm's γ and β."""
        return tuple(f"{prefix}/{name}" for prefix, layer in self.parts for name in layer.regularized)

    @property
    def rng(self):
        return self._rng

    @rng.setter
    def rng(self, rng):
        """The network's generator, handed on to the Dropout layers."""
        self._rng = rng
        for _, layer in self.parts:
            if hasattr(layer, "rng"):
                layer.rng = rng

    def build(self, input_shape, rng, dtype):
        check_sequences(input_shape, "TransformerEncoderBlock")
        super().build(input_shape, rng, dtype)
        self.parts = self.make_parts(self.input_shape[1])
        for _, layer in self.parts:
            layer.build(self.input_shape, rng, dtype)
        if self._rng is not None:
            self.rng = self._rng

    def get_config(self):
        return {"heads": self.heads, "hidden": self.hidden, "dropout": self.dropout, "causal": self.causal,
                "norm_first": self.norm_first}

    def forward(self, x, training=False):
        if x.shape[1:] != self.input_shape:
            raise ValueError(f"TransformerEncoderBlock was built for sequences shaped {self.input_shape}, "
                             f"got a batch shaped {x.shape}")
        for _, layer in self.parts:
            x = layer.forward(x, training=training)
        return x

    def backward(self, grad_y, input_grad=True):
        for index in range(len(self.parts) - 1, 0, -1):
            grad_y = self.parts[index][1].backward(grad_y)
        return self.parts[0][1].backward(grad_y, input_grad=input_grad)

    def clear_cache(self):
        for _, layer in self.parts:
            layer.clear_cache()

    def count_params(self) -> int:
        return sum(layer.count_params() for _, layer in self.parts)

    def __getstate__(self):
        return {key: value for key, value in self.__dict__.items() if key not in ("params", "grads", "buffers")}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._views()
