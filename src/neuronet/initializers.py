"""Weight initialisers.

The scale of the initial weights decides whether signals and gradients keep their size
through many layers. Glorot (Xavier) keeps the variance of a sigmoid or tanh layer's
input and output equal; He doubles it for ReLU, which zeroes half of its inputs; LeCun
keeps the variance of a linear (or SELU) layer's output equal to its input's. An
orthogonal matrix keeps every vector's length, the rule for recurrent weights applied
again and again.

Every initialiser is a function ``(shape, fan_in, fan_out, rng, dtype) -> array``: a
layer computes the fans (a Dense layer from n inputs to k units: n and k; a convolution
of F filters over C channels with kh × kw kernels: C·kh·kw and F·kh·kw, as PyTorch
counts them) and passes its generator. A layer takes an initialiser by name
(``Dense(8, initializer="lecun_normal")``) or as such a function; its config, and so a
model file, records the name (a function's ``__name__``). A file whose layer names an
initialiser not registered here still loads: it holds the weights, and nothing is drawn.
Only drawing new weights by that name (building the layer afresh) asks for it, with a
``ValueError`` saying to :func:`register_initializer` it first.
"""

from __future__ import annotations

import numpy as np


def glorot_uniform(shape, fan_in, fan_out, rng, dtype):
    """W ~ U(−a, a),  a = √(6 / (fan_in + fan_out)):  Var W = 2 / (fan_in + fan_out)."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def glorot_normal(shape, fan_in, fan_out, rng, dtype):
    """W ~ N(0, 2 / (fan_in + fan_out))."""
    return rng.normal(0.0, np.sqrt(2.0 / (fan_in + fan_out)), size=shape).astype(dtype)


def he_uniform(shape, fan_in, fan_out, rng, dtype):
    """W ~ U(−a, a),  a = √(6 / fan_in):  Var W = 2 / fan_in."""
    limit = np.sqrt(6.0 / fan_in)
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def he_normal(shape, fan_in, fan_out, rng, dtype):
    """W ~ N(0, 2 / fan_in)."""
    return rng.normal(0.0, np.sqrt(2.0 / fan_in), size=shape).astype(dtype)


def lecun_uniform(shape, fan_in, fan_out, rng, dtype):
    """W ~ U(−a, a),  a = √(3 / fan_in):  Var W = 1 / fan_in."""
    limit = np.sqrt(3.0 / fan_in)
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def lecun_normal(shape, fan_in, fan_out, rng, dtype):
    """W ~ N(0, 1 / fan_in)."""
    return rng.normal(0.0, np.sqrt(1.0 / fan_in), size=shape).astype(dtype)


def orthogonal(shape, fan_in, fan_out, rng, dtype):
    """W reshaped to rows × cols (rows = shape[0], cols = the product of the rest) has
    orthonormal columns (rows ≥ cols: WᵀW = I) or orthonormal rows (rows < cols: WWᵀ = I).

    Drawn as PyTorch's ``orthogonal_`` draws it: A ~ N(0, 1) of the taller shape, A = QR,
    Q's columns turned by the signs of R's diagonal (so that Q is uniform over the
    orthogonal matrices), transposed back for a wide W. The fans are not used."""
    rows = int(shape[0]) if len(shape) else 1
    cols = int(np.prod(shape[1:], dtype=np.int64)) if len(shape) > 1 else 1
    normal = rng.normal(0.0, 1.0, size=(max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(normal)
    q *= np.sign(np.diag(r))
    q = q if rows >= cols else q.T
    return q.reshape(shape).astype(dtype)


def zeros(shape, fan_in, fan_out, rng, dtype):
    """W = 0 (a bias; a logistic regression's weights, whose cost is convex)."""
    return np.zeros(shape, dtype=dtype)


# The initialisers by name; the Xavier and Kaiming spellings name Glorot's and He's.
REGISTRY = {function.__name__: function for function in (
    glorot_uniform, glorot_normal, he_uniform, he_normal, lecun_uniform, lecun_normal, orthogonal, zeros)}
REGISTRY.update(xavier_uniform=glorot_uniform, xavier_normal=glorot_normal,
                kaiming_uniform=he_uniform, kaiming_normal=he_normal)
INITIALIZERS = tuple(REGISTRY)


def register_initializer(function, name=None):
    """Make ``function`` (``(shape, fan_in, fan_out, rng, dtype) -> array``) known by
    ``name`` (default: its ``__name__``), so that a layer built from a config or a file
    naming it can draw weights with it. Returns the function (usable as a decorator)."""
    name = getattr(function, "__name__", None) if name is None else name
    if not callable(function) or not isinstance(name, str) or not name.isidentifier():
        raise ValueError("register_initializer takes a function (shape, fan_in, fan_out, rng, dtype) -> array "
                         "with a name (a Python identifier)")
    if REGISTRY.get(name, function) is not function:
        raise ValueError(f"the initializer name {name!r} is taken: register {function!r} under another name")
    REGISTRY[name] = function
    return function


def initializer_name(initializer):
    """What a layer's config records for ``initializer``: a name as it is, a function by
    its ``__name__``, None as None."""
    if initializer is None or isinstance(initializer, str):
        return initializer
    return getattr(initializer, "__name__", type(initializer).__name__)


def check_initializer(initializer, layer):
    """``initializer`` if it is None, a string or a callable; otherwise one-line ValueError."""
    if initializer is None or isinstance(initializer, str) or callable(initializer):
        return initializer
    raise ValueError(f"{layer}'s initializer is a name ({', '.join(INITIALIZERS)}) or a function "
                     f"(shape, fan_in, fan_out, rng, dtype) -> array, not {initializer!r}")


def initialize(name, shape, fan_in, fan_out, rng, dtype):
    """Draw an array of ``shape`` by the named rule (or by ``name`` itself, a function).

    glorot_uniform:  W ~ U(-a, a),  a = √(6 / (fan_in + fan_out))
    glorot_normal:   W ~ N(0, 2 / (fan_in + fan_out))
    he_uniform:      W ~ U(-a, a),  a = √(6 / fan_in)
    he_normal:       W ~ N(0, 2 / fan_in)
    lecun_uniform:   W ~ U(-a, a),  a = √(3 / fan_in)
    lecun_normal:    W ~ N(0, 1 / fan_in)
    orthogonal:      W (as rows × cols) with orthonormal columns, or rows if wider
    zeros:           W = 0

    Without a generator (``rng=None``) nothing is drawn: zeros hold the place of weights
    that are about to be loaded, whatever the rule (a name not registered included).
    """
    if rng is None:
        return np.zeros(shape, dtype=dtype)
    function = name if callable(name) else REGISTRY.get(name)
    if function is None:
        raise ValueError(f"unknown initializer {name!r}; choose one of {INITIALIZERS}, pass a function "
                         "(shape, fan_in, fan_out, rng, dtype) -> array, or register one first with "
                         "neuronet.initializers.register_initializer")
    values = np.asarray(function(tuple(shape), fan_in, fan_out, rng, dtype))
    if values.shape != tuple(shape):
        raise ValueError(f"the initializer {initializer_name(name)!r} gave an array of shape {values.shape}, "
                         f"not the {tuple(shape)} asked for")
    return values.astype(dtype, copy=False)
