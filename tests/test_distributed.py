"""Data-parallel training over MPI, and grid search across a Dask cluster.

The MPI tests start ``mpiexec -n 2`` on tests/distributed_target.py (or on the
``neuronet`` command) and compare with the same runs in this process. They are skipped,
saying why, only where mpi4py or an mpiexec is missing (``pip install 'neuronet[mpi]'``).
"""

import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import distributed_target as target
from neuronet import MLPClassifier, datasets
from neuronet.checkpoint import progress
from neuronet.distributed import launched_processes, mpi_world, part_bounds
from neuronet.extras import install_command

HERE = Path(__file__).resolve().parent
ONE_THREAD = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def find_mpiexec():
    """The mpiexec of the MPI that mpi4py uses: pip's mpich wheel installs it beside python
    (the scripts folder of this environment); else the first on PATH."""
    for folder in (Path(sys.executable).parent, Path(sys.prefix) / "bin"):
        if (folder / "mpiexec").is_file():
            return str(folder / "mpiexec")
    return shutil.which("mpiexec")


MPIEXEC = find_mpiexec()
needs_mpi = pytest.mark.skipif(
    importlib.util.find_spec("mpi4py") is None or MPIEXEC is None,
    reason="MPI is missing (mpi4py, or an mpiexec beside python or on PATH): pip install 'neuronet[mpi]'")


def mpiexec(*command, ranks=2, timeout=60, **options):
    return subprocess.run([MPIEXEC, "-n", str(ranks), *command], env=ONE_THREAD, capture_output=True, text=True,
                          timeout=timeout, **options)


def relative_difference(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(a)


# --- without MPI ------------------------------------------------------------------------
@pytest.mark.parametrize("length, size", [(25, 2), (128, 3), (1, 4), (0, 2), (7, 7)])
def test_the_parts_of_a_minibatch_cover_it_once_in_order(length, size):
    parts = [part_bounds(length, rank, size) for rank in range(size)]
    assert [start for start, _ in parts] == [0] + [end for _, end in parts[:-1]] and parts[-1][1] == length
    sizes = [end - start for start, end in parts]
    assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize("environ, processes", [
    ({}, None),
    ({"PMI_SIZE": "4", "PMI_RANK": "2"}, 4),                       # MPICH's or Intel MPI's mpiexec
    ({"OMPI_COMM_WORLD_SIZE": "8", "OMPI_COMM_WORLD_RANK": "0"}, 8),  # Open MPI's
    ({"SLURM_STEP_NUM_TASKS": "16", "SLURM_PROCID": "5"}, 16),     # srun
    ({"SLURM_NTASKS": "16", "SLURM_PROCID": "0"}, 1),              # a Slurm batch script: one process
    ({"PMIX_RANK": "3"}, 4),                                        # PMIx says the rank alone
])
def test_the_launchers_environment_says_how_many_processes_it_started(environ, processes):
    assert launched_processes(environ) == processes


def test_without_a_launcher_training_is_a_single_process(monkeypatch):
    for name in ("PMI_SIZE", "PMI_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK", "PMIX_RANK",
                 "SLURM_STEP_NUM_TASKS", "SLURM_PROCID"):
        monkeypatch.delenv(name, raising=False)
    assert mpi_world() is None


def test_distributed_without_mpi4py_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # import mpi4py fails
    with pytest.raises(ValueError, match="mpi4py .*" + re.escape(install_command("mpi"))):
        mpi_world(required=True)


# --- mpiexec -n 2 -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    """The runs of distributed_target on 2 ranks, and their resume of a checkpoint that one
    process wrote after 3 of 5 epochs."""
    folder = tmp_path_factory.mktemp("mpi")
    checkpoint, out = folder / "three-epochs.ckpt", folder / "two-ranks.npz"
    target.resume(checkpoint, 3)
    done = mpiexec(sys.executable, str(HERE / "distributed_target.py"), "equality", str(out), str(checkpoint))
    assert done.returncode == 0, done.stderr
    return dict(np.load(out))


@needs_mpi
@pytest.mark.parametrize("name", ["sgd", "weighted", "logistic"])
def test_two_ranks_reach_the_weights_of_one_process_after_50_sgd_steps(two_ranks, name):
    options = {"sample_weight": target.SAMPLE_WEIGHT} if name == "weighted" else {}
    alone = target.outcome(target.fit("sgd" if name == "weighted" else name, **options))
    assert relative_difference(alone["weights"], two_ranks[f"{name}.weights"]) <= 1e-10


@needs_mpi
def test_two_ranks_reach_the_weights_of_one_process_with_adam(two_ranks):
    alone = target.outcome(target.fit("adam"))
    assert relative_difference(alone["weights"], two_ranks["adam.weights"]) <= 1e-12  # measured: about 3e-16


@needs_mpi
@pytest.mark.parametrize("name", ["sgd", "weighted", "adam", "logistic"])
def test_the_metrics_of_two_ranks_are_those_of_one_process(two_ranks, name):
    options = {"sample_weight": target.SAMPLE_WEIGHT} if name == "weighted" else {}
    alone = target.outcome(target.fit("sgd" if name == "weighted" else name, **options))
    # every epoch's loss, accuracy, val_loss and val_accuracy
    np.testing.assert_allclose(two_ranks[f"{name}.history"], alone["history"], rtol=1e-12)


@needs_mpi
def test_two_ranks_resume_a_checkpoint_of_one_process(two_ranks):
    straight = target.outcome(target.fit("adam"))  # the same run, 5 epochs without a stop
    assert relative_difference(straight["weights"], two_ranks["resumed.weights"]) <= 1e-10
    np.testing.assert_allclose(two_ranks["resumed.history"], straight["history"], rtol=1e-12)


@needs_mpi
def test_ranks_training_on_a_dataset_object_read_only_their_share_and_train_as_one_process(tmp_path):
    done = mpiexec(sys.executable, str(HERE / "distributed_target.py"), "dataset", str(tmp_path / "dataset"))
    assert done.returncode == 0, done.stderr
    ranks = [dict(np.load(tmp_path / f"dataset.{rank}.npz")) for rank in range(2)]
    alone = target.dataset_run()
    batches = np.split(alone["reads"], np.cumsum(alone["read_counts"])[:-1])  # one process: whole minibatches
    for rank, run in enumerate(ranks):
        shares = [batch[slice(*part_bounds(len(batch), rank, 2))] for batch in batches]
        np.testing.assert_array_equal(run["reads"], np.concatenate(shares))  # its share of each, nothing more
        assert relative_difference(alone["weights"], run["weights"]) <= 1e-12
        np.testing.assert_allclose(run["history"], alone["history"], rtol=1e-12)
    validation = np.concatenate([run["validation_reads"] for run in ranks])
    np.testing.assert_array_equal(np.sort(validation), np.repeat(np.arange(150), 2))  # each scored once an epoch


@needs_mpi
def test_a_killed_rank_ends_the_job_and_one_process_resumes_its_checkpoint(tmp_path):
    checkpoint, pids = tmp_path / "run.ckpt", tmp_path / "pid"
    job = subprocess.Popen([MPIEXEC, "-n", "2", sys.executable, str(HERE / "distributed_target.py"), "die",
                            str(checkpoint), str(pids)], env=ONE_THREAD, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        started = time.monotonic()
        while not (checkpoint.exists() and Path(f"{pids}.1").exists()) and time.monotonic() - started < 30:
            time.sleep(0.01)
        time.sleep(0.3)  # a few minibatches on
        assert job.poll() is None, "the run ended before the kill; the test needs a longer run"
        os.kill(int(Path(f"{pids}.1").read_text()), signal.SIGKILL)
        killed = time.monotonic()
        status = job.wait(timeout=10)
        assert time.monotonic() - killed <= 10 and status != 0
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
    assert 0 <= progress(checkpoint)["done"] < 10  # the last checkpoint reads back, mid-run
    resumed = target.dying_run(checkpoint, resume=True)  # by one process: another number of ranks
    straight = target.dying_run()
    assert relative_difference(straight.flat_parameters()[0], resumed.flat_parameters()[0]) <= 1e-10


@needs_mpi
def test_ranks_started_with_other_settings_or_data_or_weights_that_drift_fail_together_in_one_line(tmp_path):
    done = mpiexec(sys.executable, str(HERE / "distributed_target.py"), "errors", str(tmp_path / "errors"))
    assert done.returncode == 0, done.stderr
    said = [json.loads((tmp_path / f"errors.{rank}.json").read_text()) for rank in range(2)]
    assert said[0] == said[1], "every rank raises the same error"
    assert said[0]["settings"].startswith("rank 1 was started with other settings (optimizer) than rank 0")
    assert said[0]["data"].startswith("rank 1 was started with other data than rank 0")
    assert said[0]["drift"].startswith("the weights differ between the ranks")
    assert all("\n" not in message for message in said[0].values())


@needs_mpi
def test_mpiexec_neuronet_train_prints_and_saves_once_from_rank_0(tmp_path):
    model = tmp_path / "model.npz"
    done = mpiexec("neuronet", "train", "--data", "xor", "--model", "mlp", "--hidden", "8", "--epochs", "3",
                   "--output", str(model), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for line in ("Training MLPClassifier on xor", "train accuracy", "model saved to", "report written to"):
        assert done.stdout.count(line) == 1, done.stdout
    assert sorted(os.listdir(tmp_path)) == ["model-report", "model.npz"]
    alone = subprocess.run(["neuronet", "train", "--data", "xor", "--model", "mlp", "--hidden", "8", "--epochs", "3",
                            "--output", str(tmp_path / "alone.npz"), "--quiet"], env=ONE_THREAD, capture_output=True,
                           text=True)
    accuracy = next(line for line in alone.stdout.splitlines() if line.startswith("train accuracy"))
    assert accuracy in done.stdout.splitlines()


@needs_mpi
def test_a_launcher_of_another_mpi_is_one_line_not_two_whole_trainings(tmp_path):
    # Open MPI's mpiexec started this process as one of 2, but mpi4py's MPICH sees a world of 1
    environ = {**ONE_THREAD, "OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_RANK": "0"}
    done = subprocess.run(["neuronet", "train", "--data", "xor", "--output", str(tmp_path / "model.npz")], env=environ,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "the MPI launcher started 2 processes, but MPI sees a world of 1" in done.stderr
    assert not (tmp_path / "model.npz").exists()


@needs_mpi
def test_train_distributed_without_a_launcher_is_one_line(tmp_path):
    done = subprocess.run(["neuronet", "train", "--data", "xor", "--distributed", "--output", str(tmp_path / "m.npz")],
                          env=ONE_THREAD, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "needs several processes started by an MPI launcher, e.g. mpiexec -n 4" in done.stderr


@needs_mpi
def test_batch_norm_on_two_ranks_normalises_with_the_whole_minibatch_and_trains_as_one_process(tmp_path):
    out = tmp_path / "batchnorm.npz"
    done = mpiexec(sys.executable, str(HERE / "distributed_target.py"), "batchnorm", str(out))
    assert done.returncode == 0, done.stderr
    two_ranks, alone = dict(np.load(out)), target.batch_norm_run()
    # minibatches of one sample: each rank stops with the same error rather than wait for the other
    assert str(two_ranks.pop("error.0")).startswith("a minibatch left 1 of the 2 processes without samples")
    assert set(two_ranks) == set(alone) and "array.1/running_var" in alone
    for key, array in alone.items():  # weights, running statistics, every epoch's metrics
        # (the biases before a BatchNorm have a zero gradient: they stay at 0, to rounding)
        np.testing.assert_allclose(two_ranks[key], array, rtol=1e-10, atol=1e-14, err_msg=key)


# --- a grid search across a Dask cluster ------------------------------------------------------
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # max_iter=20 is reached on purpose
def test_grid_search_on_a_dask_cluster_finds_what_one_process_finds():
    distributed = pytest.importorskip("distributed", reason="Dask's distributed is missing: pip install distributed")
    from joblib import parallel_config
    from sklearn.model_selection import GridSearchCV

    digits = datasets.load("digits")
    X, y = digits.flat[:400], digits.y[:400]
    search = lambda n_jobs: GridSearchCV(  # noqa: E731
        MLPClassifier(max_iter=20, tol=0, random_state=0), {"hidden_layer_sizes": [(8,), (16,)], "alpha": [1e-4, 1e-1]},
        cv=3, n_jobs=n_jobs)
    alone = search(1).fit(X, y)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            distributed.Client(cluster), parallel_config(backend="dask"):
        spread = search(-1).fit(X, y)
    np.testing.assert_array_equal(spread.cv_results_["mean_test_score"], alone.cv_results_["mean_test_score"])
    assert spread.best_params_ == alone.best_params_
