"""Data-parallel training over MPI: one model, trained by many processes at once.

Every process (a *rank*) holds the whole network and the whole training set. Each
global minibatch B — cut from the same seeded permutation on every rank — is split
into N nearly equal parts, one a rank. Rank r computes, on its part B_r, the mean
gradient g_r of the loss; with W_r the weight of its part (its number of samples, or
the sum of their ``sample_weight``) and W = Σ_r W_r the weight of the batch,

    J = Σ_r W_r J_r / W + P(θ; W)          g = Σ_r (W_r / W) g_r + ∇P(θ; W)

so each rank scales its gradient by W_r / W and one ``Allreduce`` (a sum), in place on
the network's flat gradient buffer, leaves Σ_r (W_r / W) g_r on every rank. The
penalty P is added once, for the whole batch, and every rank takes the same optimizer
step (an optimizer that clips the gradient clips this sum, the same on every rank: a norm
of each rank's part would clip another gradient): the weights stay identical on all
ranks, and equal a single process's up to the order of the sums. Before it, an ``Allreduce`` of four numbers gives every rank the
batch's loss, weight and correct count, and whether Ctrl-C was pressed on any rank
(then every rank stops after the same minibatch).

At the start, the ranks compare a fingerprint of their settings and data (a mismatch
is one ``ValueError`` on every rank), then rank 0's whole training state — weights,
optimizer moments, random generators, a run put back from a checkpoint — is sent to
the others, as Horovod broadcasts its initial variables; only dropout masks are drawn
from a stream of each rank's own. After every epoch the ranks compare a CRC-32 of their
weights: they must agree bit for bit.

This is the scheme of Horovod's ``DistributedOptimizer`` and ChainerMN's flat
communicator, on mpi4py. The training loop (:mod:`neuronet.training`) holds a
:class:`World` as its ``communicator`` (None without MPI) and calls it at a few named
points; without MPI nothing here runs and mpi4py is not imported.
"""

from __future__ import annotations

import functools
import os
import pickle
import time
import warnings
import zlib

import numpy as np

from .checkpoint import fingerprint
from .data import LazyRows, is_lazy
from .extras import install_command
from .training import loss_and_gradient

# What MPI launchers put in the environment of each process they start: how many they
# started, and which one this is. MPICH's and Intel MPI's Hydra (and PMI-2 launchers)
# set PMI_*, Open MPI OMPI_COMM_WORLD_*, PMIx launchers PMIX_RANK, Slurm's srun
# SLURM_STEP_NUM_TASKS and SLURM_PROCID. (A Slurm batch script also has SLURM_NTASKS,
# but runs once: it is not a launch of that many processes.)
LAUNCHER_SIZES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "SLURM_STEP_NUM_TASKS")
LAUNCHER_RANKS = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID")


def _numbers(names, environ):
    return [int(environ[name]) for name in names if environ.get(name, "").strip().isdigit()]


def launched_processes(environ=os.environ):
    """How many processes an MPI launcher says it started (None: no launcher started this one)."""
    sizes = _numbers(LAUNCHER_SIZES, environ) + [rank + 1 for rank in _numbers(LAUNCHER_RANKS, environ)]
    return max(sizes) if sizes else None


def launcher_rank(environ=os.environ):
    """This process's rank as the launcher's environment says it (None without a launcher)."""
    ranks = _numbers(LAUNCHER_RANKS, environ)
    return ranks[0] if ranks else None


def mpi_world(required=False):
    """The MPI job this process belongs to, as a :class:`World`; None for a single process.

    Without ``required`` MPI is only started when a launcher says it started several
    processes (``mpiexec -n 4 …``, ``srun``). With it, a process that no MPI launcher
    started is a ValueError (``mpiexec -n 1`` is a single process). So is a mismatch: a launcher's
    environment that says N processes while MPI (mpi4py) sees a world of one — mpi4py
    built on another MPI than the launcher's — which would otherwise run N whole
    trainings, each writing the same files.
    """
    expected = launched_processes()
    if expected == 1 or expected is None and not required:
        return None  # one process: nothing to distribute
    try:
        with warnings.catch_warnings():  # mpi4py's own warning of a mismatch: the error below says more
            warnings.simplefilter("ignore", RuntimeWarning)
            from mpi4py import MPI
    except ImportError as error:  # no mpi4py, or an mpi4py that finds no MPI library
        started = f"an MPI launcher started {expected} processes, but" if expected else "distributed training needs"
        raise ValueError(f"{started} mpi4py with an MPI library could not be loaded ({error}): "
                         + install_command("mpi")) from None
    size = MPI.COMM_WORLD.Get_size()
    if expected is not None and size != expected:
        library = " ".join(MPI.Get_library_version().split("\n")[0].split())
        raise ValueError(f"the MPI launcher started {expected} processes, but MPI sees a world of {size}: mpi4py uses "
                         f"{library!r}, another MPI than the launcher's. Launch with that MPI's own mpiexec (pip's "
                         f"mpich wheel puts it beside python), or rebuild mpi4py on the cluster's MPI")
    if size == 1:  # required, without a launcher
        raise ValueError("distributed training needs several processes started by an MPI launcher, e.g. "
                         f"mpiexec -n 4 …, or srun on a Slurm cluster ({install_command('mpi')} installs mpiexec)")
    return _world()


@functools.cache
def _world():
    from mpi4py import MPI

    return World(MPI.COMM_WORLD)


def part_bounds(length, rank, size):
    """[start, end) of rank ``rank``'s part of ``length`` items split over ``size`` ranks:
    parts in rank order whose sizes differ by at most one, so any batch size divides."""
    base, extra = divmod(length, size)
    start = rank * base + min(rank, extra)
    return start, start + base + (rank < extra)


def _picklable(error):
    """The error itself if it can travel to the other ranks, else a RuntimeError that says it."""
    try:
        pickle.dumps(error)
        return error
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")


class World:
    """The processes of an MPI job, as the training loop uses them: rank 0 reports,
    saves and speaks for all; every rank trains on its part of each minibatch.

    ``comm`` is an mpi4py communicator (``MPI.COMM_WORLD``).
    """

    def __init__(self, comm):
        from mpi4py import MPI

        self.comm, self._in_place = comm, MPI.IN_PLACE
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self.is_root = self.rank == 0
        self._failures = comm.Dup()  # for failed_together, apart from the training's collectives

    def __repr__(self):
        return f"World(rank={self.rank}, size={self.size})"

    # --- minibatches ---------------------------------------------------------------
    def share(self, index, n_samples):
        """This rank's part of a minibatch: ``index`` is a slice of the ``n_samples`` rows
        (the part is a slice too, a view without copy) or an array of row indices."""
        if isinstance(index, slice):
            first, last, _ = index.indices(n_samples)
            start, end = part_bounds(last - first, self.rank, self.size)
            return slice(first + start, first + end)
        start, end = part_bounds(len(index), self.rank, self.size)
        return index[start:end]

    def _sum(self, values):
        """Σ over the ranks of a few float64 numbers (one Allreduce), the same on every rank."""
        totals = np.asarray(values, dtype=np.float64)
        self.comm.Allreduce(self._in_place, totals)
        return totals

    def sum(self, values):
        """Σ over the ranks of an array of numbers, as float64, the same on every rank:
        what a layer with batch statistics (BatchNorm) sums with its ``communicator``."""
        return self._sum(values)

    def train_step(self, trainer, x, y, sample_weight=None, interrupted=False):
        """One step of data-parallel gradient descent; (x, y) is this rank's part of the
        global minibatch. ``interrupted``: Ctrl-C was pressed on this rank.

        Returns (J, correct, interrupted) of the whole batch, the same on every rank: its
        cost with the penalty, its right predictions (None for a regression loss), and
        whether Ctrl-C was pressed on any rank. A NaN/inf J leaves the weights untouched."""
        network, loss = trainer.network, trainer.loss
        if any(getattr(layer, "communicator", None) is self for layer in getattr(network, "layers", ())):
            return self._synchronized_step(trainer, x, y, sample_weight, interrupted)
        parameters, gradients, mask = network.flat_parameters()
        weight = len(x) if sample_weight is None else float(np.sum(sample_weight))
        value, correct = 0.0, 0
        if weight:
            value, logits = loss_and_gradient(network, loss, x, y, None, sample_weight)
            correct = loss.correct(logits, y)
        else:  # no samples here (a batch smaller than the world), or all of weight 0
            gradients[...] = 0
        loss_sum, total, correct, interrupted = self._sum(
            [value * weight, weight, np.nan if correct is None else correct, interrupted])
        if not total:
            raise ValueError("Weights sum to zero, can't be normalized (a minibatch whose samples all weigh 0)")
        value = loss_sum / total + trainer.penalty_value(total)
        if np.isfinite(value):
            gradients *= gradients.dtype.type(weight / total)
            self.comm.Allreduce(self._in_place, gradients)
            if trainer.penalty is not None:
                trainer.penalty.add_gradient(parameters, gradients, mask, total)
            trainer.optimizer.step(parameters, gradients, mask)  # clipping, if any, after the all-reduce
        return value, None if np.isnan(correct) else int(correct), bool(interrupted)

    def _synchronized_step(self, trainer, x, y, sample_weight=None, interrupted=False):
        """:meth:`train_step` for a network whose layers sum batch statistics over the
        ranks (BatchNorm): each of them takes part in those sums in the forward and the
        backward pass, so every rank runs both, in the same order, or none does.

        The batch's weight W = Σ_r W_r is summed first (with a check that every rank has
        samples); the loss's gradient is scaled by W_r / W before the backward pass,
        which then carries the whole batch's gradient ∂J/∂z (the sums inside BatchNorm
        are those of one process), and the Allreduce adds the ranks' parameter gradients
        as they are. A NaN/inf J, known to every rank, skips both the backward pass and
        the step on all of them."""
        network, loss = trainer.network, trainer.loss
        parameters, gradients, mask = network.flat_parameters()
        weight = len(x) if sample_weight is None else float(np.sum(sample_weight))
        total, empty = self._sum([weight, not len(x)])
        if empty:
            raise ValueError(f"a minibatch left {int(empty)} of the {self.size} processes without samples, and "
                             "BatchNorm sums its statistics over all of them: give every process a sample of "
                             "every minibatch (batch_size, and the last minibatch, at least the number of processes)")
        if not total:
            raise ValueError("Weights sum to zero, can't be normalized (a minibatch whose samples all weigh 0)")
        logits = network.logits(x, training=True)  # the layers' forward sums over the ranks
        value = loss.forward(logits, y, sample_weight if weight else None)  # a rank of weight 0 counts for nothing
        correct = loss.correct(logits, y)
        loss_sum, correct, interrupted = self._sum(
            [value * weight if weight else 0.0, np.nan if correct is None else correct, interrupted])
        value = loss_sum / total + trainer.penalty_value(total)
        if np.isfinite(value):
            grad_logits = loss.backward()
            network.backward(grad_logits * grad_logits.dtype.type(weight / total), input_grad=False)
            self.comm.Allreduce(self._in_place, gradients)
            if trainer.penalty is not None:
                trainer.penalty.add_gradient(parameters, gradients, mask, total)
            trainer.optimizer.step(parameters, gradients, mask)  # as the other step: AdamW decays the weights only
        return value, None if np.isnan(correct) else int(correct), bool(interrupted)

    def evaluate(self, trainer, data, sample_weight=None):
        """Loss (with the penalty, as in training) and accuracy on the dataset ``data``,
        each rank reading and computing its share of the rows: what ``Trainer.evaluate``
        gives in one process."""
        n = len(data)
        part = self.share(slice(0, n), n)
        weights = None if sample_weight is None else sample_weight[part]
        value, correct = 0.0, 0
        logits, y_part = trainer.logits_of(data, part)
        if len(y_part):
            value, correct = trainer.loss.forward(logits, y_part, weights), trainer.loss.correct(logits, y_part)
        share = len(y_part) if weights is None else float(np.sum(weights))
        loss_sum, correct = self._sum([value * share, np.nan if correct is None else correct])
        total = min(trainer.batch_size, n) if sample_weight is None else float(np.sum(sample_weight))
        logs = {"loss": loss_sum / (n if sample_weight is None else total) + trainer.penalty_value(total)}
        if not np.isnan(correct):
            logs["accuracy"] = correct / n
        return logs

    # --- one run on every rank ---------------------------------------------------------
    def begin(self, trainer, begin_callbacks):
        """Start a run on every rank as one: check that every rank has the same settings
        and data, run ``begin_callbacks`` (on rank 0 a Checkpoint may put a saved run
        back), then give every rank rank 0's whole state. Dropout masks then come from a
        stream of each rank's own: rank r's generator jumps r times far ahead (PCG64's ``jumped``)."""
        self._check_same_run(trainer)
        self.together(begin_callbacks)
        state = self.comm.bcast(trainer.state_dict() if self.is_root else None)
        if not self.is_root:
            trainer.load_state_dict(state)
            generator = trainer.network.rng.bit_generator
            generator.state = generator.jumped(self.rank).state

    def _check_same_run(self, trainer):
        mine = fingerprint(trainer.settings(), *trainer.data)
        everyone = self.comm.allgather(mine)
        others = [rank for rank, theirs in enumerate(everyone) if theirs != everyone[0]]
        if not others:
            return
        settings = everyone[0]["settings"]
        keys = sorted({key for rank in others for key, value in everyone[rank]["settings"].items()
                       if settings.get(key) != value})
        what = f"other settings ({', '.join(keys)})" if keys else "other data"
        who = f"rank {others[0]} was" if len(others) == 1 else f"ranks {', '.join(map(str, others))} were"
        raise ValueError(f"{who} started with {what} than rank 0: every process of a distributed run must be "
                         "started with the same command, data and seed")

    def check_weights(self, network):
        """Compare a CRC-32 of every rank's weights (after each epoch): the ranks must hold
        the same weights bit for bit, else they no longer train one model."""
        checksums = self.comm.allgather(zlib.crc32(network.flat_parameters()[0]))
        if len(set(checksums)) > 1:
            raise ValueError(
                f"the weights differ between the ranks (CRC-32 by rank: {', '.join(f'{c:08x}' for c in checksums)}): "
                "the processes no longer train one model. Were they given the same data, and is every rank on the "
                "same neuronet, NumPy and kind of machine?")

    # --- errors -------------------------------------------------------------------
    def together(self, action):
        """Run ``action`` on every rank and return its result; if it raised on any rank,
        raise on every rank (each its own error, or the lowest failing rank's)."""
        try:
            result, error = action(), None
        except Exception as caught:
            result, error = None, caught
        errors = self.comm.allgather(None if error is None else _picklable(error))
        first = next((e for e in errors if e is not None), None)
        if first is not None:
            raise error if error is not None else first
        return result

    def root_first(self, action):
        """``action`` on rank 0, then, once it succeeded, on the other ranks (which may read
        what rank 0 wrote on the way, such as a cache). An error is raised on every rank."""
        first = self.together(action if self.is_root else _nothing)
        rest = self.together(_nothing if self.is_root else action)
        return first if self.is_root else rest

    def from_root(self, action):
        """``action`` on rank 0 alone, its result given to every rank (an error raised on every rank)."""
        return self.comm.bcast(self.together(action if self.is_root else _nothing))

    def failed_together(self, patience=3.0):
        """After an error here: whether every rank failed as well (within ``patience``
        seconds), so that each process can end by itself. If not, the others wait for
        this one inside a collective, for ever: end the job with :meth:`end_job_at_exit`."""
        request, deadline = self._failures.Ibarrier(), time.monotonic() + patience
        while not request.Test():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    @staticmethod
    def end_job_at_exit(status):
        """Make this process's exit end the whole job (MPI_Abort) with ``status``: for an
        error the other ranks do not share, which would leave them waiting for ever."""
        import mpi4py.run

        mpi4py.run.set_abort_status(status)

    # --- results on rank 0 ---------------------------------------------------------
    def gather_rows(self, compute, X):
        """``compute`` of each rank's share of the rows of X, put together in order on
        rank 0 (None on the others): e.g. the predictions of a test set. An X read a slice
        at a time (a folder's image cache) is cut without being read: ``compute`` reads it."""
        part = self.share(slice(0, len(X)), len(X))
        rows = LazyRows(X, np.arange(part.start, part.stop)) if is_lazy(X) else X[part]
        mine = compute(rows) if part.stop > part.start else None
        pieces = self.comm.gather(mine, root=0)
        return np.concatenate([piece for piece in pieces if piece is not None]) if self.is_root else None

    def everyone(self, value):
        """Every rank's ``value`` (any picklable object), in rank order, on every rank."""
        return self.comm.allgather(value)

    def shared_seed(self, random_state):
        """``random_state`` as it is, or for None one seed drawn on rank 0 for every rank."""
        if random_state is not None:
            return random_state
        return self.comm.bcast(int(np.random.default_rng().integers(2**31)) if self.is_root else None)


def _nothing():
    return None
