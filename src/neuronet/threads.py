"""How many BLAS threads a fit or a prediction runs on, chosen from the sizes of its work.

On two threads a matrix product finishes sooner alone, from a few tens of millions of
operations on. But beside another busy process (two terminals, a notebook beside the
command line) OpenBLAS's threads spin, waiting for work, on the cores the other process
needs, and each product pays for that wait: two small fits at once on two threads each
run several times slower than on one thread each. A second thread is worth having only
where its gain alone outweighs that loss, and for this product sizes count, not the
machine's load (which changes while a fit runs, and would make a resumed run compute
otherwise).

The rule. The work of a network at a batch of m samples is its largest matrix product
(of a forward pass; backward's have the same sizes), counted in floating-point
operations, 2·m·k·n for an (m × k) · (k × n) product:

- ``Dense``: Z = X · W, m rows × n_in × units;
- ``Conv2D`` by im2col: W · cols, F filters × C·kh·kw × (output positions · m);

with float64 counting twice (BLAS does about half as many float64 operations a
second). The work gets one thread per ``FLOPS_PER_THREAD`` of it, at least one and at
most the cores this process may run on (OpenBLAS's default). A fit counts at its
batch size; a prediction at the fixed number of samples its path puts in one product
(:data:`neuronet.network.ROWS_PER_BLOCK` for batch-invariant prediction, the
``batch_size`` of ``Sequential.predict``), never at the size of the batch given, so a
model predicts on one count of threads whatever the batch (BLAS rounds differently on
different counts) and a run resumed from a checkpoint computes on the count it started on.

Measured on a 2-core machine (Intel SkylakeX kernel of OpenBLAS 0.3.31, float32),
``MLPClassifier((w, w), batch_size=m)`` per training step (the digits CNN:
``CNNClassifier()`` on 8×8 images): alone, one thread's time ÷ two threads'; two fits at
once, the slower one's time on two threads each ÷ on one thread each::

    largest product   network, batch               alone: 2 threads gain   two at once: 2 threads cost
        4.7 MFLOP     digits CNN, 32                      1.05×                      —
         31 MFLOP     784-100-100-10, 200                 1.36×                   10.0×
        206 MFLOP     784-512-512-10, 256                 1.52×                    3.5×
        537 MFLOP     1024-1024-1024-10, 256              1.37×                    3.4×
        1.1 GFLOP     784-1024-1024-10, 512                 —                      2.6×
        2.1 GFLOP     1024-1024-1024-10, 1024             1.48×                    1.7×
        8.6 GFLOP     784-2048-2048-10, 1024              1.50×                    1.2×

The gain alone is about 1.4× from 31 MFLOP on; the cost beside another fit falls with
the size of the products and meets the gain near 4 GFLOP: ``FLOPS_PER_THREAD`` is half
that, so that a second thread starts there. The MNIST MLP and the digits CNN run on one
thread, an MLP with two 2,048-unit layers at batch 1,024 on all cores.

The count is only ever lowered, from the default, and left alone when
``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS`` or ``MKL_NUM_THREADS`` is set or when a
library runs on another count than its default (an enclosing
``threadpoolctl.threadpool_limits``): the user's choice stands. It is the process's
count: nested scopes keep the outermost one's, and of several Python threads at once
the first to start a fit or prediction sets it until it ends.
"""

from __future__ import annotations

import math
import os
from contextlib import contextmanager
from functools import cache

from .layers import Conv2D, Dense
from .layers import Residual  # issue 26: a residual block's products count as its parts'

ENVIRONMENT = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
FLOPS_PER_THREAD = 2e9  # a second thread from 4 GFLOP: measured above


def largest_product(network, rows):
    """The floating-point operations 2·m·k·n of the largest matrix product of a forward
    pass of ``network`` over ``rows`` samples (0 without one); None for a network whose
    layers it cannot read (not a built :class:`~neuronet.network.Sequential`)."""
    shape, layers = getattr(network, "input_shape", None), getattr(network, "layers", None)
    if shape is None or layers is None:
        return None
    largest = 0
    for layer in layers:
        output = layer.output_shape(shape)
        if isinstance(layer, Dense):
            largest = max(largest, 2 * rows * shape[-1] * layer.units)
        elif isinstance(layer, Conv2D):
            columns = shape[0] * math.prod(layer.kernel_size)
            largest = max(largest, 2 * layer.filters * columns * math.prod(output[1:]) * rows)
        elif isinstance(layer, Residual):  # issue 26: the products of its parts, each a network of its own
            parts = [layer.layers] + ([[layer.shortcut]] if layer.shortcut is not None else [])
            largest = max(largest, *(largest_product(_Part(shape, part), rows) for part in parts))
        shape = output
    return largest


class _Part:
    """A residual block's layers (or projection) as :func:`largest_product` reads a network."""

    def __init__(self, input_shape, layers):
        self.input_shape, self.layers = input_shape, layers


def threads_for(network, rows, cores):
    """The BLAS threads that ``network``'s work over ``rows`` samples pays for: one per
    ``FLOPS_PER_THREAD`` of its largest product (float64 counting twice), from 1 to ``cores``;
    ``cores`` for a network whose work it cannot read."""
    work = largest_product(network, rows)
    if work is None:
        return cores
    work *= 2 if getattr(network, "dtype", None) == "float64" else 1
    return int(min(cores, max(1, work // FLOPS_PER_THREAD)))


@cache
def controller():
    """threadpoolctl's controller of the BLAS libraries this process has loaded, made once:
    finding them walks every loaded library (1 to 3 ms, more than a small prediction).
    Libraries loaded later are not governed."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController().select(user_api="blas")


@cache
def cores():
    """The cores this process may run on: OpenBLAS's default number of threads."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@contextmanager
def blas_threads(network, rows):
    """Run the body on the BLAS threads that ``network``'s work over ``rows`` samples pays
    for (:func:`threads_for`), lowering only libraries at their default count, and none
    when one of ``ENVIRONMENT`` is set; the counts are put back on leaving."""
    lowered = _lower(network, rows)
    try:
        yield
    finally:
        for library, threads in lowered:
            library.set_num_threads(threads)


def _lower(network, rows):
    """Set every BLAS library at its default count to what the work pays for when that
    is fewer threads; the libraries changed, each with its count before."""
    default = cores()
    at_default = [library for library in controller().lib_controllers if library.num_threads == default > 1]
    if not at_default or any(name in os.environ for name in ENVIRONMENT):
        return []
    threads = threads_for(network, rows, default)
    if threads >= default:
        return []
    for library in at_default:
        library.set_num_threads(threads)
    return [(library, default) for library in at_default]
