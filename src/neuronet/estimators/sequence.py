"""A sequence classifier with the MLP's scikit-learn interface: recurrent cells (or
transformer encoder blocks) read each sample step by step, a Dense head classifies."""

from __future__ import annotations

from numbers import Real

import numpy as np

from ..layers import (GRU, LSTM, RNN, Dense, Dropout, GlobalAveragePooling1D, LayerNorm, PositionalEncoding,
                      TimeDistributed, TransformerEncoderBlock)
from ..optimizers import SGD, Adam
from ..regularizers import L2
from ..validation import Interval, StrOptions
from .base import ACTIVATIONS, POSITIVE_INT, validated
from .mlp import MLPClassifier

RECURRENT_CELLS = {"rnn": RNN, "gru": GRU, "lstm": LSTM}
CELLS = (*RECURRENT_CELLS, "transformer")

# What units=None, num_layers=None and alpha=None mean, cell by cell: one recurrent layer of
# 128 units, unpenalised; two encoder blocks of width 64 (4 heads of 16) with a small L2
# penalty (the weight decay transformers are trained with), as small transformers are made.
CELL_DEFAULTS = {**{cell: {"units": 128, "num_layers": 1, "alpha": 0.0} for cell in RECURRENT_CELLS},
                 "transformer": {"units": 64, "num_layers": 2, "alpha": 0.003}}


def recurrent_layers(cell, units, num_layers):
    """``num_layers`` recurrent layers of ``units`` units each: every one but the last
    returns its whole sequence of states (what the next one reads), the last its final
    state h_T (what the Dense head classifies)."""
    layer = RECURRENT_CELLS[cell]
    return [layer(units, return_sequences=depth < num_layers - 1) for depth in range(num_layers)]


def transformer_layers(units, num_layers, heads, dropout):
    """The transformer cell: each step projected to ``units`` values (a Dense applied at
    every step), positions added (sinusoidal encoding), ``num_layers`` pre-norm encoder
    blocks of ``heads`` heads and a feed-forward width of 2·units, a final LayerNorm, and
    the steps averaged into one vector a sample (what the Dense head classifies)."""
    if units % heads:
        raise ValueError(f"cell='transformer' splits units={units} among heads={heads} attention heads: give units "
                         "a multiple of heads")
    layers = [TimeDistributed(Dense(units)), PositionalEncoding()]
    layers += [TransformerEncoderBlock(heads, 2 * units, dropout=dropout) for _ in range(num_layers)]
    return layers + [LayerNorm(), GlobalAveragePooling1D()]


class SequenceClassifier(MLPClassifier):
    """A classifier of sequences: ``num_layers`` recurrent layers (``cell`` "lstm",
    "gru" or "rnn") or transformer encoder blocks ("transformer") read each sample one
    step at a time, optional hidden Dense layers follow, and a sigmoid or softmax output
    classifies what the last layer gives (a recurrent layer's last state h_T).

    X is (samples, steps, features): MNIST read row by row is 28 steps of 28 pixels.
    Flat X (samples, values) is read as ``n_steps`` steps of values / n_steps features,
    or, without ``n_steps``, as one value a step. The estimator does not scale X: give
    values of order 1 (pixels in [0, 1], standardised measurements), as for the MLP.

    Parameters
    ----------
    cell : {"lstm", "gru", "rnn", "transformer"}, default "lstm"
        What reads the sequence: :class:`~neuronet.nn.LSTM`, :class:`~neuronet.nn.GRU`,
        the plain :class:`~neuronet.nn.RNN` (tanh), or pre-norm transformer encoder
        blocks (:class:`~neuronet.nn.TransformerEncoderBlock`) over the steps projected
        to ``units`` features, sinusoidal positions added, the steps averaged at the end.
    units : int or None, default None
        The hidden state's size H of each recurrent layer, or the width D of the
        transformer (each step projected to D features). None: the cell's own, 128 for
        the recurrent cells, 64 for the transformer (4 heads of 16).
    num_layers : int or None, default None
        Recurrent layers stacked (each but the last passes its whole sequence of states
        to the next), or transformer encoder blocks. None: the cell's own, 1 recurrent
        layer, 2 encoder blocks.
    hidden_layer_sizes : tuple of int, default ()
        Dense layers (with ``activation``) between the sequence layers and the output.
    activation : str, default "relu"
        The hidden Dense layers' activation (as the MLP's).
    n_steps : int, optional
        For flat X: the number of steps each row holds (it must divide the row's length).
        With 3-D X it must be X.shape[1] if given.
    heads : int, default 4
        The transformer's attention heads (dividing ``units``); unused by the recurrent cells.
    clip_norm : float or None, default 1.0
        The gradient is scaled down to this Euclidean norm where it is longer, before each
        step (:class:`~neuronet.optimizers.Optimizer`): a long sequence can multiply a
        gradient into a jump that throws the weights far away; clipping bounds the step.
    batch_size : int, default 64
    learning_rate : default "cosine"
        The step size follows the cosine schedule from learning_rate_init (0.003) down to 0
        at epoch max_iter.
    max_iter : int, default 30
        Most epochs; training stops earlier, as the MLP's does, once the training loss has
        not improved by ``tol`` for more than ``n_iter_no_change`` epochs in a row.
    alpha : float or None, default None
        L2 penalty on the input and recurrent weights and the Dense weights (the
        attention and feed-forward weights of the transformer), (α / 2m)·‖W‖² on a
        minibatch of m. None: the cell's own, 0 for the recurrent cells, 0.003 for the
        transformer, whose blocks otherwise fit the training set to a loss near 0 and
        generalise worse (the weight decay transformers are trained with).
    dtype : {"float32", "float64"} or None, default None
        The parameters' type; None follows X (float32 X trains in float32).
    dropout : float, default 0.2
        The drop probability of a Dropout layer on what the sequence layers give the head
        (h_T) and after each hidden Dense layer (and of the transformer blocks' own): dropping a
        fifth of h_T's values at random in training keeps the head from relying on any one
        of them.
    solver, power_t, shuffle, random_state, tol, verbose, warm_start, momentum, \
    nesterovs_momentum, early_stopping, validation_fraction, beta_1, beta_2, epsilon, \
    n_iter_no_change, max_fun
        As for :class:`MLPClassifier`.

    Notes
    -----
    ``units``, ``num_layers`` and ``alpha`` left None take the cell's own values: an
    LSTM of 128 units, unpenalised, reads MNIST-5k row by row to 0.955, 0.974 and 0.970
    test accuracy on stratified splits 0, 1 and 2; two encoder blocks of width 64 with
    α = 0.003 to 0.958, 0.964 and 0.956 (``benchmarks/sequence_classifier.py``). Without
    the penalty the transformer fits its 4,000 training digits to a loss near 0 and
    reads 0.956, 0.953 and 0.951.

    :func:`neuronet.to_onnx` gives a graph that reads X as ``fit`` read it: (samples,
    steps, features), or flat rows where ``n_steps`` is given. A model fitted on flat rows
    of one value a step (no ``n_steps``) exports reading (samples, steps, 1); give
    ``image_shape=(steps,)`` to read the flat rows.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(40, 5, 3))
    >>> y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    >>> clf = SequenceClassifier(units=8, max_iter=2, random_state=0).fit(X, y)
    >>> clf.network_.layers[0]
    LSTM(units=8, return_sequences=False, forget_bias=1.0)
    """

    _as_scikit_learn = False  # no scikit-learn twin: the layers' own initializers and the Adam paper's algorithm

    _parameter_constraints = {
        **MLPClassifier._parameter_constraints,
        "cell": [StrOptions(set(CELLS))],
        "units": [POSITIVE_INT, None],
        "num_layers": [POSITIVE_INT, None],
        "n_steps": [POSITIVE_INT, None],
        "heads": [POSITIVE_INT],
        "clip_norm": [Interval(Real, 0, None, closed="neither"), None],
        "alpha": [Interval(Real, 0, None, closed="left"), None],
    }

    def __init__(self, cell="lstm", units=None, num_layers=None, hidden_layer_sizes=(), activation="relu", *,
                 n_steps=None, heads=4, clip_norm=1.0, solver="adam", alpha=None, batch_size=64,
                 learning_rate="cosine", learning_rate_init=0.003, power_t=0.5, max_iter=30, shuffle=True,
                 random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9, nesterovs_momentum=True,
                 early_stopping=False, validation_fraction=0.1, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
                 n_iter_no_change=10, max_fun=15000, dropout=0.2, dtype=None):
        self.cell = cell
        self.units = units
        self.num_layers = num_layers
        self.n_steps = n_steps
        self.heads = heads
        self.clip_norm = clip_norm
        super().__init__(hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
                         learning_rate=learning_rate, learning_rate_init=learning_rate_init, power_t=power_t,
                         max_iter=max_iter, shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
                         warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
                         early_stopping=early_stopping, validation_fraction=validation_fraction, beta_1=beta_1,
                         beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
                         dropout=dropout, dtype=dtype)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags

    # --- the input: sequences (n, T, F), or flat rows -------------------------------
    def _validated_X(self, X, y, reset, **options):
        """(X, y) checked as scikit-learn checks them (no sparse X); X in the training
        dtype, and, when training continues, of the shape the network reads."""
        continuing = not reset and hasattr(self, "network_")
        if continuing:
            dtype = self.network_.dtype
        else:
            dtype = (np.float64, np.float32) if self.dtype is None else np.dtype(self.dtype)
        X, y = validated(self, X, y, multi_output=True, reset=reset, dtype=dtype, allow_nd=True, **options)
        if continuing:
            self._check_sample_size(X)
        return X, y

    def _sample_shape(self, X):
        """(steps, features) of one sample: X's own for 3-D X; for flat X, ``n_steps``
        steps of the row's values, or one value a step."""
        name = type(self).__name__
        if X.ndim == 3:
            if self.n_steps is not None and self.n_steps != X.shape[1]:
                raise ValueError(f"n_steps={self.n_steps} does not fit X of {X.shape[1]} steps, shaped {X.shape}; "
                                 "leave n_steps=None for 3-D X")
            return tuple(int(size) for size in X.shape[1:])
        if X.ndim != 2:
            raise ValueError(f"{name} reads X shaped (samples, steps, features), or flat (samples, values) with "
                             f"n_steps; got X of {X.ndim} dimensions, shaped {X.shape}")
        if self.n_steps is None:
            return (int(X.shape[1]), 1)
        if X.shape[1] % self.n_steps:
            raise ValueError(f"n_steps={self.n_steps} does not divide the {X.shape[1]} values of each row of X: "
                             "give the number of steps a row holds")
        return (self.n_steps, X.shape[1] // self.n_steps)

    def _check_sample_size(self, X):
        """Refuse, in one line, samples that are not the sequences the network reads."""
        steps, features = expected = self.network_.input_shape
        flat = X.ndim == 2 and X.shape[1] == steps * features
        if not (flat or (X.ndim == 3 and X.shape[1:] == expected)):
            raise ValueError(f"X has samples of shape {X.shape[1:]}, but {type(self).__name__} was fitted on "
                             f"sequences of {steps} steps of {features} features: give X shaped (samples, {steps}, "
                             f"{features}), or flat rows of {steps * features} values")
        return expected

    def _as_network_input(self, X):
        return X.reshape((X.shape[0], *self.network_.input_shape))

    # --- the network ------------------------------------------------------------------
    def _cell_setting(self, name):
        """``units``, ``num_layers`` or ``alpha`` as given, or, where None, the cell's own
        default (``CELL_DEFAULTS``)."""
        value = getattr(self, name)
        return CELL_DEFAULTS[self.cell][name] if value is None else value

    def _build_layers(self, n_outputs, sample_shape):
        units, num_layers = self._cell_setting("units"), self._cell_setting("num_layers")
        if self.cell == "transformer":
            sequence = transformer_layers(units, num_layers, self.heads, self.dropout)
        else:
            sequence = recurrent_layers(self.cell, units, num_layers)
        head = [Dropout(self.dropout)] if self.dropout else []  # on what the sequence layers give the head
        for units in self._hidden_sizes():
            head += [Dense(units), ACTIVATIONS[self.activation]()]
            if self.dropout:
                head.append(Dropout(self.dropout))
        return [*sequence, *head, Dense(n_outputs)]

    def _penalty(self):
        """L2 of ``alpha``, or of the cell's own α where alpha is None."""
        return L2(self._cell_setting("alpha"), per_batch=True)

    def _optimizer(self):
        """Adam (or SGD), the gradient clipped to ``clip_norm`` before each step."""
        if self.solver == "sgd":
            return SGD(self.learning_rate_init, momentum=self.momentum, step_velocity=True, clip_norm=self.clip_norm,
                       nesterov=bool(self.nesterovs_momentum and self.momentum > 0))
        return Adam(self.learning_rate_init, beta1=self.beta_1, beta2=self.beta_2, epsilon=self.epsilon,
                    clip_norm=self.clip_norm)
