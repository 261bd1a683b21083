"""neuronet: neural networks from first principles on NumPy.

Logistic regression is one sigmoid neuron; stack neurons and you have a deep network
trained by backpropagation; softmax gives many outputs; convolution shares weights.
"""

from . import nn
from .estimators import CNNClassifier, LogisticRegression, MLPClassifier, MLPRegressor
from .files import ModelFileError
from .persistence import load, save
from .training import TrainingDiverged, TrainingInterrupted
from .validation import InvalidParameterError

__version__ = "0.1.0"
__all__ = ["LogisticRegression", "MLPClassifier", "MLPRegressor", "CNNClassifier", "TrainingDiverged", "TrainingInterrupted",
           "InvalidParameterError", "ModelFileError", "nn", "save", "load", "__version__"]
