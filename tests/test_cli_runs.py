"""Runs keep their history: each `neuronet train` or `neuronet rl` without --output gets a
folder of its own, neuronet-runs/run-N/; `neuronet runs` lists them."""

import multiprocessing
import os
import signal
import subprocess
import sys
import threading


import neuronet
from neuronet.cli import runs
from command_line import private_cache, run  # noqa: F401 (a fixture)

ONE_THREAD = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
QUICK = ["train", "--epochs", 20, "--quiet"]


def latest(root="neuronet-runs"):
    """The run that neuronet-runs/latest names, a link or a text file alike."""
    path = os.path.join(root, "latest")
    return os.readlink(path) if os.path.islink(path) else open(path).read().strip()


def test_each_run_gets_its_own_folder_and_latest_names_the_newest(capsys, tmp_path):
    for number in (1, 2):
        code, out, _ = run(capsys, *QUICK)
        assert code == 0
        assert f"model saved to neuronet-runs/run-{number}/model.npz" in out
        assert f"next: neuronet evaluate neuronet-runs/run-{number}/model.npz breast-cancer" in out
    for number in (1, 2):
        assert {"model.npz", "model-report"} <= set(os.listdir(tmp_path / "neuronet-runs" / f"run-{number}"))
    assert latest() == "run-2" and os.path.samefile("neuronet-runs/latest/model.npz", "neuronet-runs/run-2/model.npz")


def test_output_still_writes_exactly_where_it_says(capsys, tmp_path):
    code, out, _ = run(capsys, *QUICK, "--output", "here/cancer.npz")
    assert code == 0 and "model saved to here/cancer.npz" in out
    assert sorted(os.listdir(tmp_path / "here")) == ["cancer-report", "cancer.npz"]
    assert not os.path.exists(tmp_path / "neuronet-runs")


def test_concurrent_threads_never_share_a_run_folder(tmp_path):
    start, made = threading.Barrier(12), []

    def allocate():
        start.wait()
        made.append(runs.new_run(str(tmp_path)))

    threads = [threading.Thread(target=allocate) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(made) == sorted(str(tmp_path / f"run-{n}") for n in range(1, 13))
    assert latest(tmp_path) == "run-12"


def _allocate_after(start, root, count, queue):
    start.wait()
    queue.put([runs.new_run(root) for _ in range(count)])


def test_concurrent_processes_never_share_a_run_folder(tmp_path):
    context = multiprocessing.get_context("fork")
    start, queue = context.Barrier(4), context.Queue()
    processes = [context.Process(target=_allocate_after, args=(start, str(tmp_path), 5, queue)) for _ in range(4)]
    for process in processes:
        process.start()
    made = [folder for _ in processes for folder in queue.get(timeout=60)]
    for process in processes:
        process.join(timeout=60)
    assert sorted(made) == sorted(str(tmp_path / f"run-{n}") for n in range(1, 21))
    assert latest(tmp_path) == "run-20"


def test_latest_is_a_text_file_where_symbolic_links_cannot_be_made(tmp_path, monkeypatch):
    def no_links(*args, **kwargs):
        raise OSError("symbolic links are not supported here")

    monkeypatch.setattr(os, "symlink", no_links)
    runs.new_run(str(tmp_path))
    runs.new_run(str(tmp_path))
    assert not os.path.islink(tmp_path / "latest") and (tmp_path / "latest").read_text() == "run-2\n"
    assert sorted(os.listdir(tmp_path)) == ["latest", "run-1", "run-2"]  # no temporary file left


def test_resume_without_output_and_no_run_is_one_line(capsys, tmp_path):
    code, _, err = run(capsys, *QUICK, "--resume")
    assert code == 2 and err.count("\n") == 1 and "no run to resume in neuronet-runs/" in err


def test_resume_of_a_finished_run_without_its_checkpoint_is_one_line_and_makes_no_run(capsys, tmp_path):
    run(capsys, *QUICK)
    code, _, err = run(capsys, *QUICK, "--resume")
    assert code == 2 and err.count("\n") == 1
    assert "the newest run, neuronet-runs/run-1, has no checkpoint to resume" in err
    assert sorted(os.listdir(tmp_path / "neuronet-runs")) == ["latest", "run-1"]


def _train_command():
    return [sys.executable, "-m", "neuronet.cli", "train", "--data", "digits", "--model", "mlp", "--hidden", "64",
            "--epochs", "60", "--batch-size", "16", "--tol", "0"]


def test_ctrl_c_names_the_runs_files_and_resume_without_output_continues_the_newest_run(tmp_path):
    child = subprocess.Popen(_train_command(), env=ONE_THREAD, cwd=tmp_path, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    seen = ""
    while "epoch 3/60" not in seen and child.poll() is None:
        seen += child.stderr.read(1)  # the progress bar
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=120)
    assert child.returncode == 130
    assert ("the model so far is in neuronet-runs/run-1/model.npz, the training state in "
            "neuronet-runs/run-1/model.ckpt") in err
    assert "--output neuronet-runs/run-1/model.npz --resume" in err.splitlines()[-1]
    interrupted_at = neuronet.load(tmp_path / "neuronet-runs" / "run-1" / "model.npz")[-1].n_iter_

    resumed = subprocess.run(_train_command() + ["--resume", "--quiet"], env=ONE_THREAD, cwd=tmp_path,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from neuronet-runs/run-1/model.ckpt" in resumed.stdout
    assert "model saved to neuronet-runs/run-1/model.npz" in resumed.stdout
    assert neuronet.load(tmp_path / "neuronet-runs" / "run-1" / "model.npz")[-1].n_iter_ > interrupted_at
    assert not os.path.exists(tmp_path / "neuronet-runs" / "run-2")


def _accuracies(out):
    return out.split("train accuracy ")[1].split()[0], out.split("test accuracy ")[1].split()[0]


def test_runs_lists_each_run_with_its_data_model_settings_and_accuracies(capsys):
    _, first, _ = run(capsys, *QUICK)
    _, second, _ = run(capsys, "train", "--data", "digits", "--model", "mlp", "--hidden", 8, "--optimizer", "gd",
                       "--learning-rate", 0.5, "--epochs", 5, "--quiet")
    code, out, _ = run(capsys, "runs")
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["run", "started", "data", "model", "settings", "train", "acc", "test",
                                              "acc"]
    assert lines[1].startswith("run-1 ") and lines[2].startswith("run-2 ")  # the oldest first
    assert "breast-cancer" in lines[1] and "LogisticRegression" in lines[1]
    assert "gd, full batch, lr 0.1, 20 iterations" in lines[1]
    assert "digits" in lines[2] and "MLPClassifier" in lines[2] and "hidden 8 relu, gd, full batch, lr 0.5" in lines[2]
    for line, said in ((lines[1], first), (lines[2], second)):
        assert line.split()[-2:] == list(_accuracies(said))
    assert "the newest, run-2, is also neuronet-runs/latest" in lines[-1]


def test_a_run_without_a_readable_model_is_one_line_of_the_listing(capsys, tmp_path):
    for _ in range(2):
        run(capsys, *QUICK)
    damaged = tmp_path / "neuronet-runs" / "run-1" / "model.npz"
    damaged.write_bytes(damaged.read_bytes()[:-100])
    os.mkdir(tmp_path / "neuronet-runs" / "run-3")  # a run that stopped before it saved anything
    (tmp_path / "neuronet-runs" / "learning-rate-digits-logistic.png").write_bytes(b"")  # a study's figure
    code, out, err = run(capsys, "runs")
    lines = out.splitlines()
    assert code == 0 and err == "" and len(lines) == 5
    assert lines[1].startswith("run-1 ") and "model.npz unreadable:" in lines[1]
    assert lines[2].startswith("run-2 ") and "LogisticRegression" in lines[2]
    assert lines[3].startswith("run-3 ") and "no model.npz: still training, or stopped before saving" in lines[3]


def test_runs_says_when_there_is_none(capsys):
    code, out, _ = run(capsys, "runs")
    assert code == 0 and "no runs in neuronet-runs/ yet" in out
