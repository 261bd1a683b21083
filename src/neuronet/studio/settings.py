"""What the page asks for, checked as the API checks it, and the model it describes.

The page sends its controls as one JSON object. Each control that is an estimator's
parameter is checked against that estimator's own constraints, so a bad value gets the
message ``fit`` would give; the studio's own controls (dataset, noise, sizes kept small
enough to draw) are checked in the same vocabulary. The checked settings then say which
estimator the run becomes when it is saved (LogisticRegression for the single neuron,
CNNClassifier with convolution blocks, MLPClassifier otherwise) and build the network,
loss, optimizer and penalty that train it — the ones that estimator uses.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np

from ..estimators import CNNClassifier, LogisticRegression, MLPClassifier
from ..estimators.base import ACTIVATIONS
from ..estimators.cnn import convolution_blocks
from ..layers import Conv2D, Dense, Dropout, Flatten, Sigmoid, Softmax
from ..losses import BinaryCrossEntropy, CrossEntropy
from ..network import Sequential
from ..optimizers import SGD, Adam
from ..preprocessing import PlaneFeatures
from ..regularizers import L2
from ..validation import InvalidParameterError, Interval, Sizes, StrOptions, check_parameter
from .catalog import PLANE, REINFORCEMENT, Recipe, generator_defaults

STUDIO = "the studio"
MOMENTUM = 0.9
KERNEL_SIZE, POOL_SIZE = 3, 2
MOST_HIDDEN_LAYERS, MOST_UNITS = 6, 64
MOST_CONV_BLOCKS, MOST_FILTERS = 3, 32
ACTIVATIONS_DRAWN = ("sigmoid", "tanh", "relu", "leaky_relu")  # the hidden activations the page offers
FLOAT_BYTES = 4            # the networks compute in float32
EVALUATED_AT_ONCE = 2048   # the most samples one inference pass takes (Trainer.evaluate's batches)
LIVE_SAMPLES = 1000        # the page's measurements take at most this many samples of each split
UNCOUNTED = 1.25           # what the memory count leaves out (temporaries, BLAS buffers): a quarter more

DEFAULTS = {"dataset": "spiral", "test_fraction": 0.2, "seed": 0, "model": "network", "hidden": [8, 8],
            "activation": "tanh", "conv": [], "learning_rate": 0.03, "batch_size": 10, "optimizer": "momentum",
            "l2": 0.0, "dropout": 0.0, "features": ["x1", "x2"]}
FIELDS = (*DEFAULTS, "samples", "noise")
# What the page switches to when a dataset of another kind is picked: settings that learn it.
# Images: ReLU and Adam at 0.001 in minibatches of 32 reach 0.97 test accuracy on digits in
# about 30 epochs (tanh with SGD + momentum at 0.03 in tens let its loss rise again).
KIND_DEFAULTS = {
    "plane": {key: DEFAULTS[key] for key in ("hidden", "activation", "conv", "learning_rate", "batch_size", "optimizer")},
    "table": {key: DEFAULTS[key] for key in ("hidden", "activation", "conv", "learning_rate", "batch_size", "optimizer")},
    "images": {"hidden": [32], "activation": "relu", "conv": [8, 16], "learning_rate": 0.001, "batch_size": 32,
               "optimizer": "adam"},
    # CartPole: the policy network of `neuronet rl cartpole` (64 tanh units, Adam at 0.01); only
    # the hidden sizes, the learning rate and the seed count there
    "rl": {"hidden": [64], "activation": "tanh", "conv": [], "learning_rate": 0.01, "batch_size": 10,
           "optimizer": "adam"},
}

# The page's controls that are estimator parameters, by the estimator's names.
NETWORK_PARAMETERS = {"hidden": "hidden_layer_sizes", "activation": "activation", "learning_rate": "learning_rate_init",
                      "batch_size": "batch_size", "l2": "alpha", "dropout": "dropout"}
NEURON_PARAMETERS = {"learning_rate": "learning_rate", "l2": "alpha"}


class SettingsError(ValueError):
    """Settings the page cannot train with: ``errors`` maps each control to its message."""

    def __init__(self, errors):
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))
        self.errors = errors


def _studio_constraints(catalog):
    return {
        "dataset": [StrOptions(set(catalog.kinds))],
        "samples": [Interval(Integral, 50, 2000, closed="both")],
        "noise": [Interval(Real, 0, 1, closed="both")],
        "test_fraction": [Interval(Real, 0, 1, closed="neither")],
        "seed": [Interval(Integral, 0, 2**31 - 1, closed="both")],
        "model": [StrOptions({"network", "neuron"})],
        "optimizer": [StrOptions({"sgd", "momentum", "adam"})],
        "conv": [Sizes()],
    }


def read_settings(raw, catalog):
    """The page's controls as :class:`Settings`; :class:`SettingsError` names every bad one."""
    if not isinstance(raw, dict):
        raise SettingsError({"settings": "the settings are one JSON object of the page's controls"})
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        raise SettingsError({"settings": f"unknown controls {unknown}; the page has {list(FIELDS)}"})
    values = {**DEFAULTS, **raw}
    errors = {field: f"{field} holds a number too large for a float (the largest is {sys.float_info.max:.4g})"
              for field, value in raw.items() if not fits_floats(value)}

    def check(field, constraints, owner=STUDIO, name=None):
        if field not in errors:
            try:
                check_parameter(name or field, values[field], constraints, owner)
            except InvalidParameterError as error:
                errors[field] = str(error)

    studio = _studio_constraints(catalog)
    check("dataset", studio["dataset"])
    if "dataset" in errors:
        raise SettingsError(errors)
    plane = values["dataset"] in PLANE
    if plane:
        values = {**generator_defaults(values["dataset"]), **values}
    else:
        values.update(samples=None, noise=None)
    for field in ("samples", "noise") if plane else ():
        check(field, studio[field])
    _check_whole_numbers(values, errors, "conv", "convolution blocks have a whole number of filters, like 8")
    if plane:
        _check_features(values, errors)
    for field in ("test_fraction", "seed", "model", "optimizer", "conv"):
        check(field, studio[field])
    if values["dataset"] in REINFORCEMENT and values["model"] == "neuron" and "model" not in errors:
        errors["model"] = "CartPole's policy is a network (a softmax over the two pushes): choose a network"
    if "model" in errors:
        raise SettingsError(errors)
    neuron = values["model"] == "neuron"
    estimator = LogisticRegression if neuron else CNNClassifier if values["conv"] else MLPClassifier
    for field, name in (NEURON_PARAMETERS if neuron else NETWORK_PARAMETERS).items():
        check(field, estimator._parameter_constraints[name], estimator.__name__, name)
    if not neuron:
        _check_whole_numbers(values, errors, "hidden", "hidden layer sizes are whole numbers of neurons, like 8")
        check("hidden", [Sizes()], estimator.__name__, "hidden_layer_sizes")
        check("activation", [StrOptions(set(ACTIVATIONS_DRAWN))])
        check("batch_size", [Interval(Integral, 1, None, closed="left")])  # a number on the page, not "auto"
        _check_sizes(values, errors, "hidden", MOST_HIDDEN_LAYERS, MOST_UNITS, "hidden layers", "neurons")
        _check_sizes(values, errors, "conv", MOST_CONV_BLOCKS, MOST_FILTERS, "convolution blocks", "filters")
        kind = catalog.kinds[values["dataset"]]
        if values["conv"] and kind != "images" and "conv" not in errors:
            errors["conv"] = (f"convolution blocks need images, and {values['dataset']} is "
                              f"{'a table of features' if kind == 'table' else 'points on a plane'}")
    if errors:
        raise SettingsError(errors)
    if neuron:  # one neuron: no hidden layers, full-batch gradient descent
        values.update(hidden=(), conv=(), activation=DEFAULTS["activation"], batch_size=DEFAULTS["batch_size"],
                      optimizer="sgd", dropout=0.0)
    recipe = Recipe(values["dataset"], values["samples"], values["noise"] if values["noise"] is None
                    else float(values["noise"]), int(values["seed"]), float(values["test_fraction"]))
    return Settings(recipe, values["model"], tuple(int(u) for u in values["hidden"]), values["activation"],
                    tuple(int(f) for f in values["conv"]), float(values["learning_rate"]), int(values["batch_size"]),
                    values["optimizer"], float(values["l2"]), float(values["dropout"]),
                    tuple(values["features"]) if plane else None)


def _check_features(values, errors):
    """The input features of points on the plane: names PlaneFeatures knows, each once."""
    features = values["features"]
    try:
        if not isinstance(features, list):
            raise ValueError(f"features {features!r} are not a list of names")
        PlaneFeatures(tuple(features))._validate_params()
    except ValueError as error:  # InvalidParameterError is a ValueError
        errors["features"] = str(error)


def _check_whole_numbers(values, errors, field, words):
    """Sizes that are not whole numbers, in the learner's words rather than as a Python list
    (the page sends a box left empty, or holding what is not a number, as null)."""
    sizes = values[field]
    if field in errors or not isinstance(sizes, (list, tuple)):
        return
    others = [size for size in sizes if not isinstance(size, Integral) or isinstance(size, bool)]
    if None in others:
        errors[field] = f"{words}: a box is empty or holds something else than a number"
    elif others:
        errors[field] = f"{words}, not {', '.join(map(repr, others))}"


def fits_floats(value):
    """Whether every number in ``value`` (a control's JSON value) is one a float holds: JSON
    numbers are ints of any size, and float(10**400) overflows."""
    if isinstance(value, list):
        return all(fits_floats(item) for item in value)
    if isinstance(value, Integral) and abs(value) > sys.float_info.max:
        return False
    return True


def _check_sizes(values, errors, field, most_layers, most_units, layers, units):
    sizes = values[field]
    if field not in errors and (len(sizes) > most_layers or any(size > most_units for size in sizes)):
        errors[field] = (f"the studio draws at most {most_layers} {layers} of at most {most_units} {units} "
                         f"each; got {list(sizes)}")


@dataclass(frozen=True)
class Settings:
    """A run's checked settings: its data and the model that trains on it."""

    recipe: Recipe
    model: str  # "network", or "neuron": the single-neuron lesson (logistic regression)
    hidden: tuple
    activation: str
    conv: tuple
    learning_rate: float
    batch_size: int
    optimizer: str  # "sgd", "momentum" or "adam"
    l2: float
    dropout: float
    features: tuple | None = ("x1", "x2")  # the input features of points on the plane (None for other data)

    @property
    def neuron(self):
        return self.model == "neuron"

    @property
    def reinforcement(self):
        """CartPole: a policy network learns from rewards (:mod:`.cartpole`), not from data."""
        return self.recipe.dataset in REINFORCEMENT

    def kind(self):
        """The model's name in the command line's words: logistic, mlp or cnn."""
        return "logistic" if self.neuron else "cnn" if self.conv else "mlp"

    # --- the estimator the run is saved as -----------------------------------------
    def estimator_parameters(self, epochs, image_shape=None):
        """The parameters of the estimator that this run is (max_iter: the epochs trained)."""
        epochs = max(1, int(epochs))
        if self.neuron:
            return {"learning_rate": self.learning_rate, "alpha": self.l2, "max_iter": epochs, "tol": 0.0,
                    "random_state": self.recipe.seed}
        parameters = {"hidden_layer_sizes": self.hidden, "activation": self.activation,
                      "solver": "adam" if self.optimizer == "adam" else "sgd",
                      "momentum": self.momentum(), "nesterovs_momentum": False,
                      "learning_rate_init": self.learning_rate, "batch_size": self.batch_size, "alpha": self.l2,
                      "dropout": self.dropout, "max_iter": epochs, "random_state": self.recipe.seed}
        if self.conv:
            parameters.update(image_shape=tuple(image_shape), conv_filters=self.conv, kernel_size=KERNEL_SIZE,
                              pool_size=POOL_SIZE, learning_rate="constant")
        return parameters

    def estimator_class(self):
        return LogisticRegression if self.neuron else CNNClassifier if self.conv else MLPClassifier

    def estimator(self, epochs, image_shape=None):
        return self.estimator_class()(**self.estimator_parameters(epochs, image_shape))

    # --- what trains it: the estimator's network, loss, optimizer and penalty ----------
    def sample_shape(self, data_shape):
        """One sample as the network sees it: images as they are for convolutions, else flat
        features (MLPClassifier and LogisticRegression flatten images, channel by channel)."""
        return tuple(data_shape) if self.conv else (int(np.prod(data_shape)),)

    def network_inputs(self, X):
        return X.reshape((len(X), *self.sample_shape(X.shape[1:])))

    def layers(self, n_classes, data_shape):
        """The estimator's layers: [Conv2D → MaxPool2D → activation]… → Flatten, then
        [Dense → activation (→ Dropout)]… → Dense → Sigmoid (two classes) or Softmax."""
        sample_shape = self.sample_shape(data_shape)
        outputs = 1 if n_classes == 2 else n_classes
        head = Sigmoid() if outputs == 1 else Softmax()
        if self.neuron:
            return [Dense(outputs, initializer="zeros"), head]
        layers = []
        if self.conv:
            layers += [*convolution_blocks(self.conv, KERNEL_SIZE, POOL_SIZE, self.activation, sample_shape), Flatten()]
        for units in self.hidden:
            layers += [Dense(units), ACTIVATIONS[self.activation]()] + ([Dropout(self.dropout)] if self.dropout else [])
        return layers + [Dense(outputs), head]

    def build_network(self, n_classes, data_shape):
        return Sequential(self.layers(n_classes, data_shape), input_shape=self.sample_shape(data_shape),
                          random_state=self.recipe.seed)

    @staticmethod
    def build_loss(n_classes):
        return BinaryCrossEntropy() if n_classes == 2 else CrossEntropy()

    def momentum(self):
        return MOMENTUM if self.optimizer == "momentum" and not self.neuron else 0.0

    def build_optimizer(self):
        """Adam, or SGD (with momentum 0.9 for "momentum"); the single neuron takes plain
        gradient steps, as LogisticRegression does."""
        if self.optimizer == "adam" and not self.neuron:
            return Adam(self.learning_rate)
        return SGD(self.learning_rate, momentum=self.momentum())

    def build_penalty(self):
        """The lecture's (α/2)‖w‖² for the single neuron; scikit-learn's per-batch scaling
        for the networks, as each estimator scales it."""
        return L2(self.l2, per_batch=not self.neuron)

    def plane_features(self):
        """The :class:`~neuronet.preprocessing.PlaneFeatures` step that makes the network's
        inputs, or None where they are the points themselves (x₁, x₂) or not points."""
        if self.features is None or self.features == ("x1", "x2"):
            return None
        return PlaneFeatures(self.features).fit(np.zeros((1, 2)))

    def batch_size_for(self, n_samples):
        """The whole set for the single neuron (full-batch gradient descent), else the page's, at most n."""
        return n_samples if self.neuron else min(self.batch_size, n_samples)

    # --- what a run holds in memory ------------------------------------------------------
    def memory_needed(self, n_samples, n_train, data_shape, n_classes):
        """About the most bytes a run of these settings holds at once, on data of
        ``n_samples`` samples (``n_train`` of them for training) of ``data_shape`` each:

        * its copy of the data (split, and scaled for tables and points);
        * the parameters, their gradients and the optimizer's state (a velocity for
          momentum, two moments for Adam);
        * one training step on a minibatch of b samples: each layer's output, kept for the
          backward pass, and what a layer keeps besides (a convolution's padded input and
          im2col columns: :meth:`~neuronet.layers.Layer.kept_bytes`); then the gradients
          flowing back, of one layer's output and input at a time (the first layer's
          input is the data, whose gradient is not made);
        * or one inference pass (the test loss, the page's measurements) on up to
          ``EVALUATED_AT_ONCE`` samples, one layer at a time: its input, its output and
          what it makes on the way;

        and a quarter more (``UNCOUNTED``) for the temporaries this count leaves out.
        """
        batch = self.batch_size_for(n_train)
        evaluated = min(EVALUATED_AT_ONCE, max(n_samples - n_train, min(LIVE_SAMPLES, n_train)))
        data = n_samples * int(np.prod(data_shape)) * (1 if len(data_shape) > 1 else 2)
        slots = 2 if self.optimizer == "adam" and not self.neuron else 1 if self.momentum() else 0
        parameters = kept = gradients = inference = 0
        shape = self.sample_shape(data_shape)
        for index, layer in enumerate(self.layers(n_classes, data_shape)):
            before, shape = shape, layer.output_shape(shape)
            inputs, outputs = int(np.prod(before)), int(np.prod(shape))
            if isinstance(layer, Dense):
                parameters += (inputs + 1) * layer.units
            if isinstance(layer, Conv2D):
                parameters += (before[0] * int(np.prod(layer.kernel_size)) + 1) * layer.filters
            kept += FLOAT_BYTES * batch * outputs + layer.kept_bytes(before, batch, FLOAT_BYTES, training=True)
            gradients = max(gradients, outputs + (inputs if index else 0))  # no gradient of the data
            inference = max(inference, FLOAT_BYTES * evaluated * (inputs + outputs)
                            + layer.kept_bytes(before, evaluated, FLOAT_BYTES, training=False))
        step = kept + FLOAT_BYTES * batch * gradients
        return int(UNCOUNTED * (FLOAT_BYTES * (data + parameters * (2 + slots)) + max(step, inference)))
