"""scikit-learn estimators on neuronet's engine.

``LogisticRegression`` is the lecture's single sigmoid neuron; ``MLPClassifier`` and
``MLPRegressor`` are drop-in replacements for scikit-learn's; ``CNNClassifier`` adds
convolution behind the same interface; ``SequenceClassifier`` reads sequences with
recurrent cells (LSTM, GRU, RNN).
"""

from .base import NeuralClassifier, NeuralEstimator
from .cnn import CNNClassifier
from .logistic import LogisticRegression
from .mlp import MLPClassifier, MLPRegressor
from .sequence import SequenceClassifier

__all__ = ["LogisticRegression", "MLPClassifier", "MLPRegressor", "CNNClassifier", "NeuralEstimator",
           "NeuralClassifier", "SequenceClassifier"]
