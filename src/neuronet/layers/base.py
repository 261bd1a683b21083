"""The contract every layer keeps.

A layer maps a batch ``x`` (first axis: the samples) to a batch of outputs. During
``forward`` it keeps what ``backward`` will need (its ``cache``: the batch's inputs, masks
or outputs); ``backward`` receives ∂L/∂out, writes ∂L/∂θ for each parameter θ into
``grads`` and returns ∂L/∂x, the chain rule one layer down. A layer may also keep
``buffers``: named arrays that are part of its state but not trained (running
statistics, counts), saved, loaded and checkpointed beside its parameters, never
updated by an optimizer nor penalised. ``clear_cache`` forgets the
batch, and a pickled layer holds neither the cache nor the gradients: nothing of the
data it saw.

A layer with parameters also accepts ``backward(grad_out, input_grad=False)``: it then
fills ``grads`` and skips ∂L/∂x, which the first layer of a network never needs.
"""

from __future__ import annotations

import numpy as np


class Layer:
    """Base class: a parameter-free identity, and the bookkeeping shared by all layers.

    Attributes
    ----------
    params : dict[str, np.ndarray]
        The trainable arrays, empty for a parameter-free layer.
    grads : dict[str, np.ndarray]
        Same keys as ``params``; written by ``backward``.
    buffers : dict[str, np.ndarray]
        Arrays of the layer's state that are not trained (empty for most layers): made
        by ``build``, updated by the layer itself (in ``forward``), saved and restored
        with the parameters (``Sequential.get_weights``/``set_weights``). Their names
        differ from the parameters'.
    regularized : tuple of str
        The names of the parameters that a weight penalty (L2) applies to: the
        weights, not the biases.
    cache : tuple of str
        The names of the attributes ``forward`` keeps for ``backward``.
    """

    regularized: tuple[str, ...] = ()
    cache: tuple[str, ...] = ()

    def __init__(self):
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self.input_shape: tuple[int, ...] | None = None

    # --- construction -------------------------------------------------------
    def build(self, input_shape, rng, dtype):
        """Create the parameters (and buffers) for inputs of ``input_shape`` (one sample, no
        batch axis), in ``dtype``, drawn from the generator ``rng``; with ``rng=None``
        nothing is drawn: zeros hold the place of arrays about to be loaded."""
        self.input_shape = tuple(int(d) for d in input_shape)

    @property
    def built(self) -> bool:
        return self.input_shape is not None

    def output_shape(self, input_shape):
        """The shape of one output sample for one input sample of ``input_shape``."""
        return tuple(input_shape)

    def kept_bytes(self, input_shape, rows, itemsize, training=True):
        """Bytes a forward pass over ``rows`` samples of ``input_shape`` holds besides its
        output (what it keeps for ``backward``, or makes on the way), and in training
        what its ``backward`` makes besides the gradients of its input and output: none
        here; a layer that holds more says so (:meth:`Sequential.memory_estimate
        <neuronet.network.Sequential.memory_estimate>` adds them up)."""
        return 0

    def get_config(self) -> dict:
        """The constructor arguments, as JSON-safe values (used by ``save``)."""
        return {}

    # --- computation --------------------------------------------------------
    def forward(self, x, training=False):
        return x

    def backward(self, grad_out):
        return grad_out

    def clear_cache(self):
        """Forget what ``forward`` kept for ``backward`` (until the next ``forward``)."""
        for name in self.cache:
            self.__dict__.pop(name, None)

    def __getstate__(self):
        """The pickled layer: its settings and parameters, without the cache or the
        gradients (made again by the next ``backward``, or by the network holding it)."""
        state = {key: value for key, value in self.__dict__.items() if key not in self.cache}
        state["grads"] = {}
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.__dict__.setdefault("buffers", {})  # a layer pickled before layers had buffers

    # --- helpers ------------------------------------------------------------
    def _grad(self, name):
        """The array that ``backward`` writes ∂L/∂params[name] into, reused between
        batches (inside a network it is a view of one buffer holding all gradients)."""
        grad, param = self.grads.get(name), self.params[name]
        if grad is None or grad.shape != param.shape or grad.dtype != param.dtype:
            grad = self.grads[name] = np.empty_like(param)
        return grad

    def count_params(self) -> int:
        return int(sum(p.size for p in self.params.values()))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"
