"""Sequential networks: layers applied one after another.

The forward pass activates layer by layer; the backward pass applies the chain rule
layer by layer in reverse, each layer turning ∂L/∂(its output) into ∂L/∂(its input).
"""

from __future__ import annotations

import html
import math
from typing import NamedTuple

import numpy as np
from scipy import sparse

from .layers import LAYERS, Conv2D, Dense, Layer, MaxPool2D, registered_name
from .layers.activations import Exp, Identity, LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from .layers.residual import Residual  # issue 26: residual blocks, their parts shown in the summary
from .layers.attention import MultiHeadSelfAttention  # issue 26: attention, its parts shown in the summary
from .layers.recurrent import LSTM, Recurrent
from .layers.steps import TimeDistributed
from .layers.transformer import TransformerEncoderBlock
from .data import CHUNK_ROWS, chunks, is_lazy
from .threads import blas_threads
from .tracing import trace
from .training import fit

OUTPUT_ACTIVATIONS = (Sigmoid, Softmax, Exp)
HIDDEN_ACTIVATIONS = (Identity, Sigmoid, Tanh, ReLU, LeakyReLU)  # elementwise and non-decreasing

# The rows of one matrix product in batch-invariant prediction: BLAS holds them as the
# lanes of its vector registers, which all get the same arithmetic
ROWS_PER_BLOCK = 8
# The most bytes one chunk of a prediction over many samples takes (as
# Sequential.memory_estimate counts them): large images go through in fewer samples a chunk
INFERENCE_BYTES = 1 << 28


def past_max_pooling(following_layers):
    """The first of ``following_layers`` that is not a max pooling (None if none): the
    activation a layer's outputs meet, max pooling commuting with any non-decreasing one."""
    return next((layer for layer in following_layers if not isinstance(layer, MaxPool2D)), None)


def default_initializer(following_layers) -> str:
    """He for a layer followed by a rectifier (max pooling in between or not), Glorot otherwise."""
    return "he_normal" if isinstance(past_max_pooling(following_layers), (ReLU, LeakyReLU)) else "glorot_uniform"


class Sequential:
    """A stack of layers.

    Parameters
    ----------
    layers : list of Layer
    input_shape : tuple of int, optional
        Shape of one sample, e.g. ``(784,)`` or ``(1, 28, 28)``; without it the
        network is built on the first batch it sees.
    dtype : str, default "float32"
        The parameters' type; use "float64" for gradient checks.
    random_state : int or None
        Seeds the initial weights and dropout masks.

    Attributes
    ----------
    training : bool
        The network's mode: False (evaluation, where a network starts, unlike a PyTorch
        module) or True (training: Dropout drops, BatchNorm normalises with the batch's
        statistics and updates its running ones). :meth:`train` and :meth:`eval` set it;
        ``forward(x)`` and ``logits(x)`` follow it unless given ``training=``; ``fit``
        trains in training mode and leaves the network in evaluation mode; every
        ``predict*`` evaluates, whatever the mode.

    Examples
    --------
    >>> from neuronet import nn
    >>> net = nn.Sequential([nn.Dense(4), nn.Sigmoid(), nn.Dense(1), nn.Sigmoid()],
    ...                     input_shape=(2,), random_state=0)
    >>> net.count_params()   # (2·4 + 4) + (4·1 + 1)
    17
    """

    def __init__(self, layers, input_shape=None, dtype="float32", random_state=None):
        layers = list(layers)
        if not layers or not all(isinstance(layer, Layer) for layer in layers):
            raise ValueError("Sequential needs a non-empty list of neuronet layers")
        self.layers = layers
        if np.dtype(dtype) not in (np.float32, np.float64):
            raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
        self.dtype_name = np.dtype(dtype).name
        self.random_state = random_state
        self.rng = np.random.default_rng(random_state)
        self.input_shape = None
        self.training = False
        if input_shape is not None:
            self.build(input_shape)

    # --- construction -------------------------------------------------------
    def build(self, input_shape, draw_weights=True):
        """Create every layer's parameters for samples of ``input_shape`` (zeros, with
        nothing drawn, when ``draw_weights`` is False: weights about to be loaded)."""
        shape = tuple(int(d) for d in input_shape)
        self.input_shape = shape
        for index, layer in enumerate(self.layers):
            if getattr(layer, "initializer", "") is None:
                layer.initializer = default_initializer(self.layers[index + 1 :])
            if hasattr(layer, "rng"):
                layer.rng = self.rng
            layer.build(shape, self.rng if draw_weights else None, self.dtype)
            shape = layer.output_shape(shape)
        self.output_shape = shape
        self._pack_parameters()
        return self

    def _pack_parameters(self):
        """Make every parameter (and gradient) a view into one contiguous buffer, so
        that an optimizer updates the whole network with a few array operations."""
        for index, layer in enumerate(self.layers):
            both = sorted(set(layer.params) & set(layer.buffers))
            if both:
                raise ValueError(f"layer {index}, {type(layer).__name__}, names both a parameter and a buffer "
                                 f"{both[0]!r}")
        entries = [(layer, name, param) for layer in self.layers for name, param in layer.params.items()]
        total = sum(param.size for _, _, param in entries)
        self._flat = np.empty(total, dtype=self.dtype)
        self._flat_grads = np.zeros(total, dtype=self.dtype)
        self._penalty_mask = np.zeros(total, dtype=self.dtype)
        offset = 0
        for layer, name, param in entries:
            end = offset + param.size
            view = self._flat[offset:end].reshape(param.shape)
            view[...] = param
            layer.params[name] = view
            layer.grads[name] = self._flat_grads[offset:end].reshape(param.shape)
            self._penalty_mask[offset:end] = name in layer.regularized
            offset = end

    def flat_parameters(self):
        """``(parameters, gradients, penalty_mask)``: all of the network's parameters,
        their gradients, and a 0/1 mask of the entries a weight penalty applies to
        (the weights, not the biases), each as one flat vector. Every layer's arrays
        are views into the first two, so an optimizer updates them all at once."""
        packed = all(param.base is self._flat for layer in self.layers for param in layer.params.values()) and all(
            grad.base is self._flat_grads for layer in self.layers for grad in layer.grads.values())
        if not packed:  # a parameter array was replaced from outside: pack again
            self._pack_parameters()
        return self._flat, self._flat_grads, self._penalty_mask

    def clear_cache(self):
        """Forget what the last forward pass kept for backward: every layer's cache."""
        for layer in self.layers:
            layer.clear_cache()

    def clear(self):
        """Forget the last batch: every layer's cache, and the gradients (zeroed), which
        the next training step fills again. Nothing of the data stays in the network."""
        self.clear_cache()
        if self.built:
            self._flat_grads.fill(0)

    def __getstate__(self):
        """The pickled network: its layers (their settings and parameters, neither cache
        nor gradients, see :meth:`Layer.__getstate__ <neuronet.layers.Layer.__getstate__>`);
        the flat buffers are made again on loading."""
        state = self.__dict__.copy()
        for key in ("_flat", "_flat_grads", "_penalty_mask"):
            state.pop(key, None)
        return state

    def __setstate__(self, state):
        if "dtype" in state:  # pickled before the dtype was kept by name
            state["dtype_name"] = np.dtype(state.pop("dtype")).name
        self.__dict__.update(state)
        self.__dict__.setdefault("training", False)  # pickled before networks had a mode
        if self.built:
            self._pack_parameters()

    @property
    def dtype(self):
        """The parameters' type, a ``numpy.dtype`` (kept as its name, ``dtype_name``, so
        that the network holds nothing but neuronet's types, arrays and Python values)."""
        return np.dtype(self.dtype_name)

    @property
    def built(self):
        return self.input_shape is not None

    def ensure_built(self, x):
        """Build for the samples of batch ``x``, or check that they have the built shape."""
        if not self.built:
            self.build(x.shape[1:])
        elif tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(
                f"the network expects samples shaped {self.input_shape}, got {tuple(x.shape[1:])}"
            )

    # --- computation --------------------------------------------------------
    def train(self, mode=True):
        """Put the network in training mode (``mode=False``: evaluation); returns it.

        The mode is what ``forward(x)`` and ``logits(x)`` do without ``training=``:
        in training Dropout drops units and BatchNorm uses the batch's statistics,
        updating its running ones; in evaluation both are fixed maps of each sample."""
        self.training = bool(mode)
        return self

    def eval(self):
        """Put the network in evaluation mode (``train(False)``); returns it."""
        return self.train(False)

    @property
    def output_activation(self):
        """The final Sigmoid, Softmax or Exp: the link from the logits to probabilities
        (or to a positive mean); None for a network that ends elsewhere."""
        return self.layers[-1] if isinstance(self.layers[-1], OUTPUT_ACTIVATIONS) else None

    @property
    def _body(self):
        """The layers up to the logits: all but the output activation."""
        return self.layers[:-1] if self.output_activation is not None else self.layers

    def logits(self, x, training=None):
        """Activate layer by layer up to the output activation: the scores z that the
        losses take (for a network without one, its output). ``training`` (True or
        False) overrides the network's mode, :attr:`training`, for this pass."""
        training = self.training if training is None else bool(training)
        self.ensure_built(x)
        for layer in self._body:
            x = layer.forward(x, training=training)
        return x

    def forward(self, x, training=None):
        """Activate layer by layer: the network's output (probabilities, for a
        network that ends in Sigmoid or Softmax), in the network's mode unless
        ``training`` (True or False) says otherwise."""
        z = self.logits(x, training)
        return z if self.output_activation is None else self.output_activation.forward(z)

    __call__ = forward

    def backward(self, grad_logits, input_grad=True):
        """Chain rule from ∂L/∂z, the gradient with respect to the logits (what every
        loss's ``backward`` returns), down to the first layer; fills every ``grads``.

        Returns ∂L/∂x, or None with ``input_grad=False`` (training never needs it, so
        the first layer skips that product)."""
        layers = self._body
        for index in range(len(layers) - 1, -1, -1):
            layer = layers[index]
            if index == 0 and not input_grad:
                if layer.params:
                    layer.backward(grad_logits, input_grad=False)
                return None
            grad_logits = layer.backward(grad_logits)
        return grad_logits

    def trace(self, x, target, loss):
        """One forward and backward pass over ``x`` (a batch, or one sample) against
        ``target``, every layer's numbers kept: its input and output, ∂J/∂(output),
        ∂J/∂(input) and ∂J/∂θ. Returns a :class:`neuronet.tracing.Trace`; the weights
        do not change.

        >>> from neuronet import nn
        >>> net = nn.Sequential([nn.Dense(2), nn.Sigmoid(), nn.Dense(1), nn.Sigmoid()],
        ...                     input_shape=(3,), dtype="float64", random_state=0)
        >>> steps = net.trace([1.0, 0.5, -1.0], [1.0], nn.BinaryCrossEntropy())
        >>> [layer.name for layer in steps.layers]
        ['Dense', 'Sigmoid', 'Dense', 'Sigmoid']
        """
        return trace(self, x, target, loss)

    def _in_batches(self, compute, x, batch_size):
        if is_lazy(x):  # an array-like read a batch at a time (an image cache): never whole
            self.ensure_built(x)
            batches = (self._as_input(x[i : i + batch_size]) for i in range(0, max(x.shape[0], 1), batch_size))
        else:
            x = self._as_input(x)
            self.ensure_built(x)
            batches = (x[i : i + batch_size] for i in range(0, max(x.shape[0], 1), batch_size))
        with blas_threads(self, batch_size):  # one count per batch size, whatever the rows given
            outputs = np.concatenate([compute(batch) for batch in batches])
        self.clear_cache()  # inference keeps nothing of x
        return outputs

    def _as_input(self, x):
        """x as the layers take it: sparse rows as CSR (they reach the first Dense as they
        are), float arrays in their own precision, others in the network's dtype."""
        x = x.tocsr() if sparse.issparse(x) else np.asarray(x)
        return x if x.dtype.kind == "f" else x.astype(self.dtype)

    def predict(self, x, batch_size=1024):
        """Outputs for ``x`` in inference mode, computed in batches of ``batch_size``;
        nothing of ``x`` stays in the network (:meth:`clear_cache`). ``x`` may be an
        array-like read a slice at a time (:func:`neuronet.data.is_lazy`: an image cache),
        which is then read one batch at a time, never whole.

        Float input keeps its precision (float64 input gives float64 outputs); other
        input is converted to the network's dtype."""
        return self._in_batches(lambda batch: self.forward(batch, training=False), x, batch_size)

    def predict_logits(self, x, batch_size=1024):
        """The logits for ``x`` in inference mode, in batches, as :meth:`predict`."""
        return self._in_batches(lambda batch: self.logits(batch, training=False), x, batch_size)

    def convolution_maps(self, image):
        """What each convolution makes of one ``image`` (C × H × W): a list of (index of
        the Conv2D, the activation of its block or None, its maps through that
        activation), at the convolution's own resolution — a max pooling between the two
        commutes with the activation."""
        x, found = image[None], []
        for index, layer in enumerate(self.layers):
            x = layer.forward(x)
            if isinstance(layer, Conv2D):
                activation = past_max_pooling(self.layers[index + 1 :])
                activation = activation if isinstance(activation, HIDDEN_ACTIVATIONS) else None
                found.append((index, activation, (x if activation is None else activation.forward(x))[0]))
        return found

    def predict_batch_invariant(self, x):
        """Outputs for a dense batch ``x`` in the network's dtype, each sample's bitwise the
        same whichever samples share the call: any split of a batch gives the same numbers
        (at a given number of BLAS threads).

        A BLAS product gives a row different roundings depending on where the row sits
        in the matrix, so every product here has one shape. A Dense layer takes the batch
        in blocks of ``ROWS_PER_BLOCK`` rows (the last one padded with zeros) and computes
        each block as Zᵀ = Wᵀ · Xᵀ, the block's rows being the lanes of BLAS's vector
        registers, which all get the same arithmetic; an LSTM, whose products have the
        samples as columns, takes them in the same blocks; a Conv2D, an attention layer, an
        RNN and a GRU take each sample alone. Every other layer treats each sample alone.

        The batch goes through :meth:`chunk_rows` samples at a time (a whole number of
        blocks, so the numbers are those of the whole batch at once), so its memory is
        that of one chunk's activations; ``x`` may be an array-like read a slice at a
        time (:func:`neuronet.data.is_lazy`).
        """
        x = x if is_lazy(x) else np.asarray(x)
        self.ensure_built(x)
        rows, outputs = x.shape[0], None
        with blas_threads(self, ROWS_PER_BLOCK):  # one count for every batch
            for chunk in chunks(rows, self.chunk_rows()) or [slice(0, 0)]:
                y = _batch_invariant(self.layers, np.ascontiguousarray(x[chunk], dtype=self.dtype))
                if outputs is None:
                    outputs = np.empty((rows, *y.shape[1:]), dtype=y.dtype)
                outputs[chunk] = y[: chunk.stop - chunk.start]
        self.clear_cache()
        return outputs

    def memory_estimate(self, batch_size, chunk_rows=CHUNK_ROWS, optimizer_slots=2):
        """The bytes of memory training takes at its peak, estimated from the shapes of
        the built network's layers: a :class:`MemoryEstimate` of

        - ``parameters``: the parameters, their gradients and the optimizer's
          ``optimizer_slots`` arrays of the same size each (Adam's two moments, momentum's
          one velocity, none for plain gradient descent);
        - ``batch``: one training step over ``batch_size`` samples: the batch as read and
          in the network's dtype, every layer's output and what its forward pass keeps for
          backward (a convolution's padded input and im2col columns: :meth:`Layer.kept_bytes
          <neuronet.layers.Layer.kept_bytes>`), and backward's gradients of the largest
          layer's input and output at once;
        - ``chunk``: one evaluation chunk of ``chunk_rows`` samples in inference mode
          (scoring the test set as training goes, predicting), counted as ``batch`` is
          without backward.

        Their sum, ``total``, is an upper bound: a chunk's forward pass replaces, layer by
        layer, what the last training step kept."""
        itemsize = np.dtype(self.dtype).itemsize
        parameters = self.count_params() * itemsize * (2 + optimizer_slots)
        batch_bytes, largest = _forward_bytes(self.layers, self.input_shape, batch_size, itemsize, True)
        chunk_bytes, _ = _forward_bytes(self.layers, self.input_shape, chunk_rows, itemsize, False)
        sample = math.prod(self.input_shape) * itemsize
        return MemoryEstimate(parameters, 2 * sample * batch_size + batch_bytes + 2 * largest,
                              2 * sample * chunk_rows + chunk_bytes, batch_size, chunk_rows)

    def chunk_rows(self, budget=INFERENCE_BYTES):
        """The samples one chunk of a prediction over many takes: :data:`~neuronet.data.CHUNK_ROWS`,
        or fewer (a whole number of blocks of ``ROWS_PER_BLOCK``, at least one) where one
        chunk's inference would take more than ``budget`` bytes by :meth:`memory_estimate`'s
        count: 1,024 RGB images of 64×64 take about 1.6 GB through ``CNNClassifier()``'s
        network, so they go through 112 at a time."""
        per_row = self.memory_estimate(1, ROWS_PER_BLOCK, 0).chunk / ROWS_PER_BLOCK
        return min(CHUNK_ROWS, max(ROWS_PER_BLOCK, int(budget // per_row) // ROWS_PER_BLOCK * ROWS_PER_BLOCK))

    def fit(self, X, y, *, loss, optimizer, **options):
        """Train with the shared minibatch loop; see :func:`neuronet.training.fit`."""
        return fit(self, X, y, loss=loss, optimizer=optimizer, **options)

    # --- parameters ---------------------------------------------------------
    def named_parameters(self):
        """``(key, parameter, gradient)`` for every trainable array, keys like "0/weights"."""
        return [
            (f"{index}/{name}", param, layer.grads.get(name))
            for index, layer in enumerate(self.layers)
            for name, param in layer.params.items()
        ]

    def named_buffers(self):
        """``(key, buffer)`` for every array of the layers' state that is not trained (see
        :attr:`Layer.buffers <neuronet.layers.Layer>`), keys like "1/count"."""
        return [(f"{index}/{name}", buffer) for index, layer in enumerate(self.layers)
                for name, buffer in layer.buffers.items()]

    def parameters(self):
        return [param for _, param, _ in self.named_parameters()]

    def _arrays(self):
        return [(key, param) for key, param, _ in self.named_parameters()] + self.named_buffers()

    def get_weights(self):
        """A copy of every parameter and buffer, by key ("0/weights", "1/count")."""
        return {key: array.copy() for key, array in self._arrays()}

    def set_weights(self, weights):
        """Copy ``weights`` (as :meth:`get_weights` gives them) into the parameters and buffers."""
        for key, array in self._arrays():
            if weights[key].shape != array.shape:
                raise ValueError(f"weights for {key} have shape {weights[key].shape}, expected {array.shape}")
            array[...] = weights[key]

    def count_params(self):
        return sum(layer.count_params() for layer in self.layers)

    _SUMMARY_HEADER = ("Layer (type)", "Output shape", "Param #", "Counted as")

    def _summary_rows(self):
        """One row per layer (name, output shape, parameter count, the count written as
        shapes), and one line per convolution comparing its shared weights with a dense
        layer's; both :meth:`summary` and the notebook's table show these."""
        if not self.built:
            raise ValueError("the network is not built yet: pass input_shape or call build()")
        rows, sharing = [], []
        shape = self.input_shape
        for index, layer in enumerate(self.layers):
            shape, shape_in = layer.output_shape(shape), shape
            formula = " + ".join(
                f"{'·'.join(map(str, p.shape))} {name}" for name, p in layer.params.items()
            )
            if layer.buffers:  # the state that is not trained (BatchNorm's running statistics)
                formula += " (not trained: " + " + ".join(
                    f"{'·'.join(map(str, b.shape))} {name}" for name, b in layer.buffers.items()) + ")"
            rows.append((f"{index}: {type(layer).__name__}", str((None, *shape)),
                         f"{layer.count_params():,}", formula))
            if isinstance(layer, Conv2D):
                sharing.append(f"{index}: Conv2D  {_weight_sharing(layer, shape_in, shape)}")
            if isinstance(layer, Residual):  # its parts, each counted by hand on an indented row under it
                rows[-1] = (*rows[-1][:3], _block_formula(layer))
                _block_rows(str(index), layer, shape_in, "  ", rows, sharing)
            if isinstance(layer, TransformerEncoderBlock):  # issue 26: its parts, one after another, under it
                rows[-1] = (*rows[-1][:3], "its parts in a row: the sum of the rows below")
                _encoder_rows(str(index), layer, shape_in, rows, sharing)
        return rows, sharing

    def _summary_footer(self):
        buffers = sum(buffer.size for _, buffer in self.named_buffers())
        kept = [f"Buffers, not trained: {buffers:,}"] if buffers else []
        return [f"Total params: {self.count_params():,}", *kept, f"Input shape: {(None, *self.input_shape)}"]

    def summary(self, print_fn=print):
        """Each layer, its output shape and its parameters, counted the way one counts
        them by hand (a Dense layer from n inputs to k units: n·k weights + k biases; a
        residual block, the sum of its layers' rows, indented under it as "3.0", "3.1");
        then, for each convolution, its shared weights beside the weights a dense layer
        from the same input to the same output would need."""
        body, sharing = self._summary_rows()
        rows = [self._SUMMARY_HEADER, *body]
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        line = "─" * (sum(widths) + 6)
        text = [line]
        for number, row in enumerate(rows):
            text.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
            if number == 0:
                text.append(line)
        text += [line, *self._summary_footer()]
        if sharing:
            text += [_SHARING_TITLE, *(f"  {note}" for note in sharing)]
        out = "\n".join(text)
        if print_fn is not None:
            print_fn(out)
        return out

    def _repr_html_(self):
        """The :meth:`summary` as an HTML table, for notebooks (Jupyter shows it in place
        of the repr); a network not built yet says so."""
        if not self.built:
            return (f"<p>Sequential network ({len(self.layers)} layers), not built yet: "
                    "pass input_shape or call build()</p>")
        body, sharing = self._summary_rows()
        notes = self._summary_footer() + ([_SHARING_TITLE, *sharing] if sharing else [])
        return _html_table(self._SUMMARY_HEADER, body, notes)

    # --- description (for save / load) --------------------------------------
    def get_config(self):
        return {
            "layers": [{"class": registered_name(type(layer)) or type(layer).__name__, "config": layer.get_config()}
                       for layer in self.layers],
            "input_shape": list(self.input_shape) if self.built else None,
            "dtype": self.dtype_name,
        }

    @classmethod
    def from_config(cls, config, draw_weights=True):
        """The network a ``get_config()`` describes; ``draw_weights=False`` builds it with
        zeros in place of weights (to be loaded), drawing nothing."""
        layers = []
        for spec in config["layers"]:
            if spec["class"] not in LAYERS:
                raise ValueError(f"unknown layer type {spec['class']!r} in the model description: register its class "
                                 "with neuronet.nn.register_layer first")
            layers.append(LAYERS[spec["class"]](**spec["config"]))
        network = cls(layers, dtype=config["dtype"])
        return network.build(config["input_shape"], draw_weights) if config["input_shape"] is not None else network

    def __repr__(self):
        inner = ",\n    ".join(repr(layer) for layer in self.layers)
        return f"Sequential([\n    {inner},\n])"


_SHARING_TITLE = "Weight sharing: each convolution applies one kernel per filter at every position"


def _html_table(header, rows, notes):
    """A self-contained HTML table (inline style only, every cell escaped) with ``notes``
    as lines under it."""
    def cells(tag, row):
        return "".join(f'<{tag} style="text-align:left;padding:2px 10px">{html.escape(cell)}</{tag}>'
                       for cell in row)
    lines = [f"<tr>{cells('th', header)}</tr>", *(f"<tr>{cells('td', row)}</tr>" for row in rows)]
    table = '<table class="neuronet-summary" style="border-collapse:collapse">' + "".join(lines) + "</table>"
    return "<div>" + table + "".join(f"<div>{html.escape(note)}</div>" for note in notes) + "</div>"


def _weight_sharing(conv, shape_in, shape_out):
    """A convolution's shared parameters beside the weights of a dense layer that would
    connect the same input to the same output: (C·H·W)·(F·H'·W') of them."""
    dense = int(np.prod(shape_in)) * int(np.prod(shape_out))
    source, target = ("×".join(map(str, shape)) for shape in (shape_in, shape_out))
    biases = f" + {conv.filters:,} biases" if conv.bias else ""
    return (f"{conv.params['weights'].size:,} shared weights{biases}; a dense layer from "
            f"{source} to {target} would need {_readable(dense)} weights")


def _block_formula(block):
    """A residual block's "Counted as": what it adds up, its parts' parameters counted below."""
    return ("x" if block.shortcut is None else "P·x") + " + F(x): the sum of the rows below"


def _block_rows(label, block, shape_in, indent, rows, sharing):
    """A summary row for each part of a residual block (F's layers, then the projection P),
    indented and numbered "3.0", "3.1", "3.projection"; the parts of a block inside it
    further in."""
    shape = shape_in
    parts = [(str(number), part, True) for number, part in enumerate(block.layers)]
    parts += [("projection", block.shortcut, False)] if block.shortcut is not None else []
    for name, part, chained in parts:
        start = shape if chained else shape_in
        out = part.output_shape(start)
        formula = " + ".join(f"{'·'.join(map(str, p.shape))} {key}" for key, p in part.params.items())
        rows.append((f"{indent}{label}.{name}: {type(part).__name__}", str((None, *out)),
                     f"{part.count_params():,}", _block_formula(part) if isinstance(part, Residual) else formula))
        if isinstance(part, Conv2D):
            sharing.append(f"{label}.{name}: Conv2D  {_weight_sharing(part, start, out)}")
        if isinstance(part, Residual):
            _block_rows(f"{label}.{name}", part, start, indent + "  ", rows, sharing)
        if chained:
            shape = out


def _encoder_rows(label, block, shape_in, rows, sharing):
    """A summary row for each part of a transformer encoder block ("2.attention", "2.norm1"),
    and the rows of the residual blocks among them under theirs."""
    for name, part in block.parts:
        formula = " + ".join(f"{'·'.join(map(str, p.shape))} {key}" for key, p in part.params.items())
        rows.append((f"  {label}.{name}: {type(part).__name__}", str((None, *shape_in)), f"{part.count_params():,}",
                     _block_formula(part) if isinstance(part, Residual) else formula))
        if isinstance(part, Residual):
            _block_rows(f"{label}.{name}", part, shape_in, "    ", rows, sharing)


def _readable(count):
    """A count as people say it: 4,917,248 → "4.9 M" (k, M, G, T; exact below a thousand)."""
    for size, unit in ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "k")):
        if count >= size:
            value = count / size
            return f"{value:.1f} {unit}" if value < 9.95 else f"{value:.0f} {unit}"
    return str(count)


class MemoryEstimate(NamedTuple):
    """What :meth:`Sequential.memory_estimate` counts, in bytes."""

    parameters: int  # the parameters, their gradients, the optimizer's arrays
    batch: int  # one training step over ``batch_size`` samples
    chunk: int  # one evaluation chunk of ``chunk_rows`` samples
    batch_size: int
    chunk_rows: int

    @property
    def total(self):
        return self.parameters + self.batch + self.chunk


def _forward_bytes(layers, shape, rows, itemsize, training):
    """(the bytes of every layer's output and of what it keeps, for ``rows`` samples of
    ``shape`` through ``layers``; the largest output among them), a residual block's parts
    counted as layers of their own."""
    total = largest = 0
    for layer in layers:
        output = layer.output_shape(shape)
        if isinstance(layer, Residual):  # issue 26: F's layers and the projection, each a run of its own
            for part in [layer.layers] + ([[layer.shortcut]] if layer.shortcut is not None else []):
                inner, inner_largest = _forward_bytes(part, shape, rows, itemsize, training)
                total, largest = total + inner, max(largest, inner_largest)
        kept = layer.kept_bytes(shape, rows, itemsize, training)
        out = math.prod(output) * rows * itemsize
        total, largest, shape = total + out + kept, max(largest, out), output
    return total, largest


def _batch_invariant(layers, x):
    """``layers`` applied in a row to a dense batch the way :meth:`Sequential.predict_batch_invariant`
    applies them (a residual block's parts too), each sample's numbers whatever the batch."""
    for layer in layers:
        if isinstance(layer, Dense):
            x = _dense_rows_as_lanes(layer, _whole_blocks(x))
        elif isinstance(layer, Conv2D):
            x = layer.forward_image_by_image(x)
        elif isinstance(layer, Residual):  # issue 26: y = x + F(x), or P·x + F(x)
            x = _batch_invariant(layer.layers, x) + (x if layer.shortcut is None else
                                                     _batch_invariant([layer.shortcut], x))
        elif isinstance(layer, TimeDistributed):  # issue 26: the steps as rows of the layer's batch
            n, steps = x.shape[:2]
            y = _batch_invariant([layer.layer], x.reshape(n * steps, *x.shape[2:]))
            x = y[: n * steps].reshape(n, steps, *y.shape[1:])
        elif isinstance(layer, TransformerEncoderBlock):
            x = _batch_invariant([part for _, part in layer.parts], x)
        elif isinstance(layer, LSTM):  # its products feature-major: the samples are their columns
            x = _in_blocks(layer, x)
        elif isinstance(layer, (MultiHeadSelfAttention, Recurrent)):  # each sample alone, as a Conv2D's images
            x = np.concatenate([layer.forward(x[start : start + 1]) for start in range(x.shape[0])])
        else:
            x = layer.forward(x)
    return x


def _in_blocks(layer, x):
    """``layer.forward`` of x one block of ``ROWS_PER_BLOCK`` samples at a time (the last
    one padded with zeros), for a layer whose every product has the samples as its
    columns, as Zᵀ = Wᵀ · Xᵀ has for a Dense layer: each product is then of one shape,
    and each sample a lane of BLAS's vector registers, which all get the same arithmetic."""
    blocks = _whole_blocks(x)
    outputs = [layer.forward(blocks[start : start + ROWS_PER_BLOCK]) for start in range(0, len(blocks), ROWS_PER_BLOCK)]
    return np.concatenate(outputs)[: x.shape[0]]


def _whole_blocks(x):
    """x with rows of zeros added up to a whole number (at least one) of blocks."""
    missing = -x.shape[0] % ROWS_PER_BLOCK if x.shape[0] else ROWS_PER_BLOCK
    if not missing:
        return x
    padded = np.zeros((x.shape[0] + missing, *x.shape[1:]), dtype=x.dtype)
    padded[: x.shape[0]] = x
    return padded


def _dense_rows_as_lanes(layer, x):
    """Z = X · W + b for a batch of whole blocks of ``ROWS_PER_BLOCK`` rows, one product
    Zᵀ = Wᵀ · Xᵀ per block (NumPy loops over the blocks in C)."""
    blocks = x.reshape(-1, ROWS_PER_BLOCK, x.shape[1])
    z = np.matmul(layer.params["weights"].T, blocks.transpose(0, 2, 1))  # blocks × units × rows
    if layer.bias:
        z += layer.params["bias"][:, None]
    return np.ascontiguousarray(z.transpose(0, 2, 1)).reshape(x.shape[0], -1)  # C order for any number of blocks
