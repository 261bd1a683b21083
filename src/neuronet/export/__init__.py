"""Export to ONNX: a trained model runs in ONNX Runtime (C#, Java, C++, the browser, phones).

``to_onnx(model, path)`` turns a network, an estimator or a pipeline of scalers and an
estimator into one ONNX graph whose outputs are named as skl2onnx names those of
scikit-learn models. Needs the ``onnx`` package: ``pip install 'neuronet[onnx]'``
(``pip install '.[onnx]'`` in a checkout that is not installed).
"""

from .graph import signature
from .model import to_onnx

__all__ = ["to_onnx", "signature"]
