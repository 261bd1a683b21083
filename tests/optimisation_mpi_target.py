"""The MPI run of tests/test_optimisation.py: ``mpiexec -n 2 python optimisation_mpi_target.py OUT`` trains
``run()`` data-parallel; rank 0 saves the weights to OUT. The test runs the same in one process."""

import sys

import numpy as np
from threadpoolctl import threadpool_limits

from neuronet import datasets, nn
from neuronet.distributed import mpi_world


def run(communicator=None):
    """AdamW with its gradient clipped to norm 0.05 (clipped at every step), a warm-up then a
    one-cycle schedule stepped per minibatch, 4 epochs of minibatches of 25 on 250 digits, in float64."""
    digits = datasets.load("digits")
    X, y = digits.flat[:250], digits.y[:250]
    net = nn.Sequential([nn.Dense(16), nn.ReLU(), nn.Dense(10), nn.Softmax()], input_shape=(64,), random_state=0,
                        dtype="float64")
    schedule = nn.WarmUp(nn.OneCycle(0.02, total_steps=35), warmup_steps=5)
    with threadpool_limits(1):
        net.fit(X, y, loss=nn.CrossEntropy(), optimizer=nn.AdamW(0.02, weight_decay=0.1, clip_norm=0.05), epochs=4,
                batch_size=25, penalty=nn.L2(1e-3), callbacks=[nn.LearningRateScheduler(schedule, per="step")],
                random_state=0, communicator=communicator)
    return net.flat_parameters()[0].copy()


if __name__ == "__main__":
    world = mpi_world(required=True)
    weights = run(world)
    if world.is_root:
        np.save(sys.argv[1], weights)
