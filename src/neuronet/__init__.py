"""neuronet: neural networks from first principles on NumPy.

Logistic regression is one sigmoid neuron; stack neurons and you have a deep network
trained by backpropagation; softmax gives many outputs; convolution shares weights.

``import neuronet`` is light: each public name below is imported from its module the
first time it is used (PEP 562), so ``neuronet --help`` never waits for scikit-learn.
"""

from importlib import import_module

__version__ = "0.1.0"

# Each public name, and the module of neuronet that defines it ("nn" is that module itself).
_HOMES = {
    "LogisticRegression": "estimators",
    "MLPClassifier": "estimators",
    "MLPRegressor": "estimators",
    "CNNClassifier": "estimators",
    "SequenceClassifier": "estimators",
    "TrainingDiverged": "training",
    "TrainingInterrupted": "training",
    "StoppedLearningWarning": "diagnosis",
    "InvalidParameterError": "validation",
    "ModelFileError": "files",
    "nn": "nn",
    "datasets": "datasets",  # named datasets, all offline
    "plots": "plots",  # figures of what a network learned
    "save": "persistence",
    "load": "persistence",
    "to_onnx": "export",  # needs the [onnx] extra
}
__all__ = [*_HOMES, "__version__"]


def __getattr__(name):
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    home = import_module(f"{__name__}.{_HOMES[name]}")
    value = home if _HOMES[name] == name else getattr(home, name)
    globals()[name] = value  # later look-ups find it without coming here
    return value


def __dir__():
    return sorted({*globals(), *__all__})
