"""Finite-difference gradient checking: is backpropagation right?

For any scalar function L(θ), the central difference::

    (L(θ + ε e_i) − L(θ − ε e_i)) / 2ε = ∂L/∂θ_i + O(ε²)

gives each partial derivative independently of the chain rule. Comparing it with the
analytic gradient by the relative error ‖a − n‖ / (‖a‖ + ‖n‖) catches a wrong backward
pass at once: in float64, a correct one agrees to about 1e-8, a wrong one to 1e-1.
"""

from __future__ import annotations

import numpy as np


def relative_error(analytic, numeric):
    """‖a − n‖ / (‖a‖ + ‖n‖); 0 when both are zero."""
    scale = np.linalg.norm(analytic) + np.linalg.norm(numeric)
    return 0.0 if scale == 0 else float(np.linalg.norm(analytic - numeric) / scale)


def numerical_gradient(function, array, epsilon=1e-6, indices=None):
    """∂function()/∂array by central differences, perturbing ``array`` in place.

    With ``indices`` (positions in the flattened array) only those entries are
    computed; the others stay 0."""
    grad = np.zeros_like(array, dtype=np.float64)
    flat, grad_flat = array.reshape(-1), grad.reshape(-1)
    for i in range(flat.size) if indices is None else indices:
        saved = flat[i]
        flat[i] = saved + epsilon
        plus = function()
        flat[i] = saved - epsilon
        minus = function()
        flat[i] = saved
        grad_flat[i] = (plus - minus) / (2 * epsilon)
    return grad


def _require_float64(*arrays):
    for a in arrays:
        if a.dtype != np.float64:
            raise ValueError("gradient checks need float64 arrays (float32 rounding swamps the differences)")


def check_layer(layer, x, training=False, seed=0, epsilon=1e-6):
    """Relative errors of a built layer's gradients, for the input ("input") and each
    parameter, on the scalar L = Σ forward(x) ⊙ R with a fixed random R."""
    x = np.array(x, dtype=np.float64)
    _require_float64(x, *layer.params.values())
    projection = np.random.default_rng(seed).normal(size=layer.forward(x, training).shape)

    def scalar():
        if hasattr(layer, "rng"):  # the same dropout mask every time
            layer.rng = np.random.default_rng(seed)
        return float(np.sum(layer.forward(x, training) * projection))

    scalar()
    errors = {"input": relative_error(layer.backward(projection), numerical_gradient(scalar, x, epsilon))}
    analytic = {name: grad.copy() for name, grad in layer.grads.items()}
    for name, param in layer.params.items():
        errors[name] = relative_error(analytic[name], numerical_gradient(scalar, param, epsilon))
    return errors


def check_loss(loss, output, target, epsilon=1e-6):
    """Relative error of a loss's gradient with respect to its input (the logits)."""
    output = np.array(output, dtype=np.float64)
    loss.forward(output, target)
    analytic = loss.backward()
    return relative_error(analytic, numerical_gradient(lambda: loss.forward(output, target), output, epsilon))


def check_network(network, x, target, loss, epsilon=1e-6, entries=None, seed=0):
    """Relative error per parameter ("0/weights", ...) of a whole network trained with
    ``loss`` on its logits (before a final Sigmoid/Softmax, as in training), end to end.

    ``entries`` checks that many randomly chosen entries of each parameter array
    instead of all of them (for large networks)."""
    x = np.asarray(x, dtype=np.float64)
    network.ensure_built(x)
    _require_float64(*network.parameters())

    def scalar():
        return loss.forward(network.logits(x), target)

    scalar()
    network.backward(loss.backward())
    analytic = {key: grad.copy() for key, _, grad in network.named_parameters()}
    rng, errors = np.random.default_rng(seed), {}
    for key, param, _ in network.named_parameters():
        chosen = None if entries is None or entries >= param.size else rng.choice(param.size, entries, replace=False)
        numeric = numerical_gradient(scalar, param, epsilon, chosen)
        chosen = slice(None) if chosen is None else chosen
        errors[key] = relative_error(analytic[key].reshape(-1)[chosen], numeric.reshape(-1)[chosen])
    return errors
