"""The check of batch-invariant prediction shared by the tests of layers that have one."""

import numpy as np
from threadpoolctl import threadpool_limits


def batch_invariant_outputs(network, X, sizes=(1, 4, 9)):
    """``network.predict_batch_invariant(X)``, asserted bitwise the same when X goes
    through in pieces of each of ``sizes`` samples (on one BLAS thread)."""
    with threadpool_limits(1):
        whole = network.predict_batch_invariant(X)
        for size in sizes:
            pieces = [network.predict_batch_invariant(X[start : start + size]) for start in range(0, len(X), size)]
            assert np.array_equal(np.concatenate(pieces), whole), f"pieces of {size} give other numbers"
    return whole
