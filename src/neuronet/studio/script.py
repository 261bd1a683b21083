"""A run as a Python script: the page's "copy as Python".

The script makes the same data, builds the same network with ``neuronet.nn`` and trains
it with ``nn.fit`` for the epochs the run trained, with the same seeds: it ends with the
weights the page shows after those epochs. It also names the scikit-learn-style
estimator with the same settings, the one the downloaded model file holds. A run that
stopped within an epoch, or took one-sample steps, is replayed step by step instead:
the same minibatches as ``nn.fit`` draws them, and each one-sample step where the page
took it, so the script still ends with the page's weights.
"""

from __future__ import annotations

from ..layers import Conv2D, Dense, Dropout, MaxPool2D
from .catalog import PLANE


def _layer_code(layer):
    name = type(layer).__name__
    if isinstance(layer, Dense):
        return f"nn.Dense({layer.units}{', initializer=' + repr(layer.initializer) if layer.initializer else ''})"
    if isinstance(layer, Conv2D):
        return f"nn.Conv2D({layer.filters}, {layer.kernel_size[0]}, padding={layer.padding[0]})"
    if isinstance(layer, MaxPool2D):
        pool = layer.pool_size
        return f"nn.MaxPool2D({pool[0] if pool[0] == pool[1] else tuple(pool)})"
    if isinstance(layer, Dropout):
        return f"nn.Dropout({layer.rate:g})"
    return f"nn.{name}()"


def _grouped(layers):
    """The layers' code, a line for each Dense or Conv2D and the layers that follow it."""
    lines = []
    for layer in layers:
        if isinstance(layer, (Dense, Conv2D)) or not lines:
            lines.append([])
        lines[-1].append(_layer_code(layer))
    return [", ".join(line) for line in lines]


def _data_code(settings, data):
    recipe = settings.recipe
    source = data.extra["data"]
    if recipe.dataset in PLANE:
        load = (f"datasets.load({recipe.dataset!r}, n_samples={recipe.samples}, noise={recipe.noise:g}, "
                f"random_state={recipe.seed})")
    elif data.extra.get("image_size"):
        load = (f"datasets.load({source!r}, image_size={data.extra['image_size']}, "
                f"grayscale={data.extra['grayscale']})")
    else:
        load = f"datasets.load({source!r})"
    lines = [f"data = {load}",
             f"X_train, X_test, y_train, y_test = data.split(test_size={recipe.test_fraction:g}, "
             f"random_state={recipe.seed})"]
    if data.scaler is not None:
        lines += ["scaler = StandardScaler().fit(X_train)",
                  "X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)"]
    if settings.plane_features() is not None:
        lines += [f"features = PlaneFeatures({settings.features!r}).fit(X_train)  # the input neurons",
                  "X_train, X_test = features.transform(X_train), features.transform(X_test)"]
    if len(data.sample_shape) > 1 and not settings.conv:
        lines.append("X_train, X_test = X_train.reshape(len(X_train), -1), X_test.reshape(len(X_test), -1)"
                     "  # flat pixels")
    return lines


def _training_code(settings, n_samples, epochs):
    optimizer = settings.build_optimizer()
    step = f"nn.{type(optimizer).__name__}({settings.learning_rate:g}"
    step += f", momentum={settings.momentum():g})" if settings.momentum() else ")"
    options = [f"optimizer={step}"]
    if settings.l2:
        options.append(f"penalty=nn.L2({settings.l2:g}{'' if settings.neuron else ', per_batch=True'})")
    batch = "len(X_train), shuffle=False" if settings.neuron else str(settings.batch_size_for(n_samples))
    options += [f"epochs={max(1, epochs)}", f"batch_size={batch}", f"random_state={settings.recipe.seed}"]
    return options


def _estimator_note(settings):
    same = ("zero initial weights and full-batch gradient descent: the same numbers" if settings.neuron
            else "it draws its own initial weights, so its numbers differ a little")
    return ["# The same settings as a scikit-learn-style estimator", f"# ({same}); saved as below, it is",
            "# the kind of file the studio's download gives, which neuronet evaluate and predict read:"]


def _call(head, arguments, width=100):
    """``head(arguments…)`` over as many lines as it takes, continued under the first argument."""
    lines, indent = [head + "("], " " * (len(head) + 1)
    for argument in arguments:
        piece = argument + ", "
        if len(lines[-1]) + len(piece) > width and lines[-1].strip():
            lines[-1] = lines[-1].rstrip()
            lines.append(indent)
        lines[-1] += piece
    lines[-1] = lines[-1].rstrip(", ") + ")"
    return lines


def in_comment(text):
    """``text`` for a comment line: escaped as in a string literal, so that no newline,
    carriage return or other control character in a file's name ends the comment (a name
    in the script is never code)."""
    return repr(str(text))[1:-1]


def python_script(settings, data, epochs, steps, file_name, record=None):
    """The script that trains the run's network again, to the weights it has after ``epochs``
    (with ``record``, the run's steps in order, every one replayed: see :func:`replay_script`)."""
    if record is not None and _needs_replay(record, _batches_per_epoch(settings, data)):
        return replay_script(settings, data, epochs, file_name, record)
    layers = settings.layers(data.n_classes, data.sample_shape)
    loss = type(settings.build_loss(data.n_classes)).__name__
    trained = f"{epochs} epoch{'s' if epochs != 1 else ''}"
    within = steps - epochs * -(-len(data.y_train) // settings.batch_size_for(len(data.y_train)))
    if within > 0:
        trained += f" and {within} minibatch{'es' if within != 1 else ''} of the next"
    estimator = settings.estimator_class().__name__
    parameters = [f"{name}={value!r}"
                  for name, value in settings.estimator_parameters(epochs, data.image_shape).items()]
    saved = _saved(settings, data)
    lines = [f"# neuronet studio: {in_comment(data.name)}, {settings.kind()}, {trained}",
             *(["from sklearn.preprocessing import StandardScaler", ""] if data.scaler is not None else []),
             "from neuronet import datasets, nn",
             *(["from neuronet.preprocessing import PlaneFeatures"] if settings.plane_features() else []), "",
             *_data_code(settings, data), "",
             "network = nn.Sequential([",
             *(f"    {line}," for line in _grouped(layers)),
             f"], input_shape={settings.sample_shape(data.sample_shape)}, random_state={settings.recipe.seed})",
             *_call("history = nn.fit", ["network", "X_train", "y_train", f"loss=nn.{loss}()",
                                         *_training_code(settings, len(data.y_train), epochs),
                                         "validation_data=(X_test, y_test)"]),
             "print(f\"test accuracy {history['val_accuracy'][-1]:.4f}\")", "",
             *_estimator_note(settings),
             "# import neuronet",
             f"# from neuronet import {estimator}",
             *(["# from sklearn.pipeline import make_pipeline"] if data.scaler is not None else []),
             *(f"# {line}" for line in _call(f"model = {estimator}", parameters, width=98)),
             "# model.fit(X_train, y_train)",
             f"# neuronet.save({saved}, {file_name!r})"]
    return "\n".join(lines) + "\n"


def _saved(settings, data):
    steps = [*(["scaler"] if data.scaler is not None else []),
             *(["features"] if settings.plane_features() is not None else [])]
    return f"make_pipeline({', '.join(steps)}, model)" if steps else "model"


# --- every step, as the page took it ---------------------------------------------------------
def _batches_per_epoch(settings, data):
    return -(-len(data.y_train) // settings.batch_size_for(len(data.y_train)))


def _needs_replay(record, batches_per_epoch):
    """Whole epochs of minibatches alone are ``nn.fit``'s; anything else is replayed step by step."""
    minibatches = sum(count for kind, count in record if kind == "minibatches")
    return any(kind == "sample" for kind, _ in record) or minibatches % batches_per_epoch != 0 or not minibatches


def _trained(record, batches_per_epoch):
    minibatches = sum(count for kind, count in record if kind == "minibatches")
    samples = sum(1 for kind, _ in record if kind == "sample")
    epochs, within = divmod(minibatches, batches_per_epoch)
    words = [f"{epochs} epoch{'s' if epochs != 1 else ''}"]
    if within:
        words.append(f"{within} minibatch{'es' if within != 1 else ''} of the next")
    if samples:
        words.append(f"{samples} one-sample step{'s' if samples != 1 else ''}")
    return " and ".join(words)


def _replayed_steps(record):
    """The record as the script's list: a line of at most a few steps."""
    pieces = [f"({kind!r}, {value})" for kind, value in record]
    lines, line = [], ""
    for piece in pieces:
        if line and len(line) + len(piece) > 86:
            lines.append(line.rstrip())
            line = ""
        line += piece + ", "
    return [f"    {line}" for line in [*lines, line.rstrip()] if line]


def replay_script(settings, data, epochs, file_name, record):
    """The script that takes the run's steps again, in the page's order: its minibatches
    (the very ones ``nn.fit`` draws, epoch after epoch, with the same seed) and its
    one-sample steps (:func:`neuronet.training.traced_step`, as the page took them)."""
    n = len(data.y_train)
    batch_size = settings.batch_size_for(n)
    loss = type(settings.build_loss(data.n_classes)).__name__
    optimizer = settings.build_optimizer()
    step = f"nn.{type(optimizer).__name__}({settings.learning_rate:g}"
    step += f", momentum={settings.momentum():g})" if settings.momentum() else ")"
    penalty = f"nn.L2({settings.l2:g}{'' if settings.neuron else ', per_batch=True'})" if settings.l2 else "None"
    shuffle = not settings.neuron
    estimator = settings.estimator_class().__name__
    parameters = [f"{name}={value!r}"
                  for name, value in settings.estimator_parameters(epochs, data.image_shape).items()]
    saved = _saved(settings, data)
    order = (["        order = order[shuffling.permutation(len(order))]  # each epoch shuffles them again"]
             if shuffle else [])
    lines = [f"# neuronet studio: {in_comment(data.name)}, {settings.kind()}, {_trained(record, _batches_per_epoch(settings, data))}",
             "import numpy as np",
             *(["from sklearn.preprocessing import StandardScaler"] if data.scaler is not None else []), "",
             "from neuronet import datasets, nn",
             *(["from neuronet.preprocessing import PlaneFeatures"] if settings.plane_features() else []),
             "from neuronet.training import gradient_step, traced_step", "",
             *_data_code(settings, data), "",
             "network = nn.Sequential([",
             *(f"    {line}," for line in _grouped(settings.layers(data.n_classes, data.sample_shape))),
             f"], input_shape={settings.sample_shape(data.sample_shape)}, random_state={settings.recipe.seed})",
             f"loss, optimizer, penalty = nn.{loss}(), {step}, {penalty}", "", "",
             "def minibatches():",
             f'    """The minibatches nn.fit draws ({"shuffled, random_state=" + str(settings.recipe.seed) if shuffle else "in order"}), '
             f'{batch_size} samples each, epoch after epoch."""',
             *([f"    shuffling = np.random.default_rng({settings.recipe.seed})"] if shuffle else []),
             "    order = np.arange(len(X_train))",
             "    while True:",
             *order,
             f"        for start in range(0, len(order), {batch_size}):",
             f"            yield order[start:start + {batch_size}]", "", "",
             "# the page's steps in order: so many minibatches, or one step on one training sample",
             "steps = [", *_replayed_steps(record), "]",
             "batches = minibatches()",
             "for kind, value in steps:",
             "    if kind == \"sample\":  # shown number by number on the page: forward, J, backward, update",
             "        traced_step(network, loss, optimizer, X_train[value], y_train[value], penalty)",
             "    else:",
             "        for _ in range(value):",
             "            batch = next(batches)",
             "            gradient_step(network, loss, optimizer, X_train[batch], y_train[batch], penalty)",
             "print(f\"test accuracy {loss.correct(network.predict_logits(X_test), y_test) / len(y_test):.4f}\")", "",
             *_estimator_note(settings),
             "# import neuronet",
             f"# from neuronet import {estimator}",
             *(["# from sklearn.pipeline import make_pipeline"] if data.scaler is not None else []),
             *(f"# {line}" for line in _call(f"model = {estimator}", parameters, width=98)),
             "# model.fit(X_train, y_train)",
             f"# neuronet.save({saved}, {file_name!r})"]
    return "\n".join(lines) + "\n"
