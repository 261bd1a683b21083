"""Residual connections: a block of layers that learns a change to its input, y = x + F(x)."""

from __future__ import annotations

import math
from collections.abc import MutableMapping

from .activations import LeakyReLU, ReLU
from .base import Layer
from .conv import Conv2D
from .dense import Dense
from .pooling import MaxPool2D
from .registry import as_layer, registered_name


class Residual(Layer):
    """A residual block: its layers F applied to x, and x itself added to what they give.

    Forward:   y = x + F(x)            (F's output shaped as x)
               y = P · x + F(x)        (otherwise: P a linear projection of x to F's shape)
    Backward:  ∂L/∂x = ∂L/∂y + (∂F/∂x)ᵀ · ∂L/∂y           (the two paths' gradients add up)
               ∂L/∂x = Pᵀ · ∂L/∂y + (∂F/∂x)ᵀ · ∂L/∂y      (with a projection)
               ∂L/∂θ for every parameter of F and P: its layer's own backward, given ∂L/∂y

    The shortcut carries ∂L/∂y to x unchanged, however deep F is: a stack of blocks
    trains where a plain stack of as many layers stops learning, its gradients fading
    layer by layer (He et al., 2016).

    Parameters
    ----------
    layers : list of Layer
        F, applied in order (Conv2D, ReLU, Conv2D, …); a layer whose ``initializer`` is
        None gets He before a rectifier inside the block, Glorot otherwise, as in
        ``Sequential``.
    projection : Layer or None, default None
        P. None: the identity where F keeps the shape of x, and otherwise a projection
        made when the block is built, without a bias: ``Dense(k, bias=False)`` for flat
        samples, and for images a 1 × 1 ``Conv2D(F, 1, stride=s, bias=False)`` whose
        stride s takes H × W to F's H' × W' (H = 8 to H' = 4: s = 2). A layer given
        here is used as it is, and must give F's shape.

    Its parameters are its layers', named by their place ("0/weights", "2/bias") and the
    projection's ("projection/weights"): a network names them "3/0/weights", and packs,
    trains, saves, loads, checkpoints and exports them as any layer's.
    """

    cache = ()

    def __init__(self, layers, projection=None):
        super().__init__()
        if not isinstance(layers, (list, tuple)) or not layers:
            raise ValueError("Residual takes a non-empty list of layers, e.g. Residual([Dense(8), ReLU(), Dense(8)])")
        self.layers = [as_layer(item, f"Residual's layer {index}") for index, item in enumerate(layers)]
        self.projection = None if projection is None else as_layer(projection, "Residual's projection")
        self.shortcut = None  # the projection in use once built (None: the identity)
        self._rng = None
        self._views()

    def _views(self):
        self.params, self.grads, self.buffers = (_Nested(self, kind) for kind in ("params", "grads", "buffers"))

    # --- the parts -----------------------------------------------------------
    def _parts(self):
        """(name, layer) of every part holding arrays: the layers by place, then P."""
        parts = [(str(index), layer) for index, layer in enumerate(self.layers)]
        return parts + ([("projection", self.shortcut)] if self.shortcut is not None else [])

    @property
    def regularized(self):
        """The parts' weights, by their names here ("0/weights", "projection/weights")."""
        return tuple(f"{prefix}/{name}" for prefix, layer in self._parts() for name in layer.regularized)

    @property
    def rng(self):
        return self._rng

    @rng.setter
    def rng(self, rng):
        """The network's generator, handed on to every part that draws (Dropout)."""
        self._rng = rng
        for layer in [*self.layers, self.projection, self.shortcut]:
            if layer is not None and hasattr(layer, "rng"):
                layer.rng = rng

    # --- construction ----------------------------------------------------------
    def get_config(self):
        """Its layers (and the projection given, or None) as a file describes layers:
        ``{"class": registered name, "config": {...}}``; ``neuronet.save`` refuses a part
        that is not registered, as it refuses such a layer of a network."""
        return {"layers": [_description(layer) for layer in self.layers],
                "projection": None if self.projection is None else _description(self.projection)}

    def inner_shape(self, input_shape):
        """The shape of F(x) for one sample x of ``input_shape``."""
        shape = tuple(input_shape)
        for layer in self.layers:
            shape = tuple(layer.output_shape(shape))
        return shape

    def output_shape(self, input_shape):
        return self.inner_shape(input_shape)

    def shortcut_for(self, input_shape):
        """P for samples of ``input_shape``, not built: the projection given, one made for
        the shapes, or None for the identity. ValueError when no projection fits."""
        shape_in, shape_out = tuple(input_shape), self.inner_shape(input_shape)
        if self.projection is not None:
            return self.projection
        if shape_out == shape_in:
            return None
        if len(shape_in) == len(shape_out) == 1:
            return Dense(shape_out[0], initializer="glorot_uniform", bias=False)
        if len(shape_in) == len(shape_out) == 3:
            strides = [max(1, math.ceil(size_in / size_out)) for size_in, size_out in zip(shape_in[1:], shape_out[1:])]
            if all((size - 1) // s + 1 == size_out for size, s, size_out in zip(shape_in[1:], strides, shape_out[1:])):
                return Conv2D(shape_out[0], 1, stride=strides, initializer="glorot_uniform", bias=False)
        raise ValueError(f"Residual's layers take samples shaped {shape_in} to {shape_out}, which no 1 × 1 projection "
                         "reaches: give the block layers that keep the shape, or a projection=... layer that gives it")

    def build(self, input_shape, rng, dtype):
        super().build(input_shape, rng, dtype)
        shape = self.input_shape
        for index, layer in enumerate(self.layers):
            if getattr(layer, "initializer", "") is None:
                layer.initializer = _default_initializer(self.layers[index + 1 :])
            layer.build(shape, rng, dtype)
            shape = tuple(layer.output_shape(shape))
        self.shortcut = self.shortcut_for(self.input_shape)
        if self.shortcut is not None:
            self.shortcut.build(self.input_shape, rng, dtype)
            projected = tuple(self.shortcut.output_shape(self.input_shape))
            if projected != shape:
                raise ValueError(f"Residual's projection gives samples shaped {projected}, its layers {shape}: "
                                 "the two must match to be added")
        if self._rng is not None:  # a projection made here draws nothing, but one given may
            self.rng = self._rng

    # --- computation -----------------------------------------------------------
    def forward(self, x, training=False):
        inner = x
        for layer in self.layers:
            inner = layer.forward(inner, training=training)
        return inner + (x if self.shortcut is None else self.shortcut.forward(x, training=training))

    def backward(self, grad_y, input_grad=True):
        grad = grad_y
        for index in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[index]
            if index == 0 and not input_grad:
                if layer.params:  # F's first layer fills its gradients, and skips ∂L/∂x
                    layer.backward(grad, input_grad=False)
                grad = None
                break
            grad = layer.backward(grad)
        if self.shortcut is None:
            return grad + grad_y if input_grad else None
        if not input_grad:
            self.shortcut.backward(grad_y, input_grad=False)
            return None
        return grad + self.shortcut.backward(grad_y)

    def clear_cache(self):
        super().clear_cache()
        for _, layer in self._parts():
            layer.clear_cache()

    def count_params(self) -> int:
        return sum(layer.count_params() for _, layer in self._parts())

    def __getstate__(self):
        """Its layers (each pickled as layers are: no cache, no gradients), not the views."""
        state = {key: value for key, value in self.__dict__.items()
                 if key not in (*self.cache, "params", "grads", "buffers")}
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._views()

    def __repr__(self):
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"Residual([{inner}], projection={self.projection!r})"


class _Nested(MutableMapping):
    """A block's arrays of one kind ("params", "grads" or "buffers") under the names
    "<part>/<name>": each read and write goes to the part's own dict, so a network that
    packs ``params`` into its flat buffer packs the parts' arrays themselves."""

    def __init__(self, block, kind):
        self.block, self.kind = block, kind

    def _part(self, key):
        prefix, _, name = key.partition("/")
        for part, layer in self.block._parts():
            if part == prefix and name:
                return getattr(layer, self.kind), name
        raise KeyError(key)

    def __getitem__(self, key):
        arrays, name = self._part(key)
        return arrays[name]

    def __setitem__(self, key, value):
        arrays, name = self._part(key)
        arrays[name] = value

    def __delitem__(self, key):
        arrays, name = self._part(key)
        del arrays[name]

    def __iter__(self):
        for prefix, layer in self.block._parts():
            for name in getattr(layer, self.kind):
                yield f"{prefix}/{name}"

    def __len__(self):
        return sum(len(getattr(layer, self.kind)) for _, layer in self.block._parts())

    def __repr__(self):
        return repr(dict(self))


def _description(layer):
    return {"class": registered_name(type(layer)) or type(layer).__name__, "config": layer.get_config()}


def _default_initializer(following_layers):
    """He for a layer followed inside the block by a rectifier (max pooling in between or
    not), Glorot otherwise: the rule of ``Sequential`` (``network.default_initializer``)."""
    after = next((layer for layer in following_layers if not isinstance(layer, MaxPool2D)), None)
    return "he_normal" if isinstance(after, (ReLU, LeakyReLU)) else "glorot_uniform"
