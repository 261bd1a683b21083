"""Export to ONNX: a trained model runs in ONNX Runtime (C#, Java, C++, the browser, phones).

``to_onnx(model, path)`` turns a network, an estimator or a pipeline ending in an
estimator into one ONNX graph with input ``X`` and outputs ``output_label`` and
``output_probability`` (one N × K tensor), or ``variable`` for a regressor. Needs the
``onnx`` package: ``pip install 'neuronet[onnx]'`` (``pip install '.[onnx]'`` in a
checkout that is not installed), which brings skl2onnx too.

Where skl2onnx is installed, importing this package registers neuronet's estimators with
it (:mod:`.converters`): ``skl2onnx.to_onnx`` then converts any pipeline it knows that
ends in one, ``ColumnTransformer`` and ``OneHotEncoder`` included, and ``to_onnx`` hands
it the pipelines whose steps are not scalers.
"""

from .graph import signature
from .model import to_onnx

try:
    import skl2onnx  # noqa: F401  (the [onnx] extra's; without it, to_onnx still exports scaler pipelines)
except ImportError:
    pass
else:
    from .converters import register

    register()

__all__ = ["to_onnx", "signature"]
