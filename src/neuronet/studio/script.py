"""A run as a Python script: the page's "copy as Python".

The script makes the same data, builds the same network with ``neuronet.nn`` and trains
it with ``nn.fit`` for the epochs the run trained, with the same seeds: it ends with the
weights the page shows after those epochs. It also names the scikit-learn-style
estimator with the same settings, the one the downloaded model file holds.
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


def python_script(settings, data, epochs, steps, file_name):
    """The script that trains the run's network again, to the weights it has after ``epochs``."""
    layers = settings.layers(data.n_classes, data.sample_shape)
    loss = type(settings.build_loss(data.n_classes)).__name__
    trained = f"{epochs} epoch{'s' if epochs != 1 else ''}"
    within = steps - epochs * -(-len(data.y_train) // settings.batch_size_for(len(data.y_train)))
    if within > 0:
        trained += f" and {within} minibatch{'es' if within != 1 else ''} of the next"
    estimator = settings.estimator_class().__name__
    parameters = [f"{name}={value!r}"
                  for name, value in settings.estimator_parameters(epochs, data.image_shape).items()]
    saved = "make_pipeline(scaler, model)" if data.scaler is not None else "model"
    lines = [f"# neuronet studio: {in_comment(data.name)}, {settings.kind()}, {trained}",
             *(["from sklearn.preprocessing import StandardScaler", ""] if data.scaler is not None else []),
             "from neuronet import datasets, nn", "",
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
