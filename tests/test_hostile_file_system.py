"""Concurrency and the file system: saves that race, abandoned temporary files, special
files and symbolic links as destinations, an --output that is a folder, and OS errors.

Every refusal is one line, in bounded time, before anything is written; the hostile
cases run in a child process (see ``test_hostile_harness``), only under each test's own
temporary folder (FIFOs, sockets, links, and a device faked by its file mode — never a
real device).
"""

import errno
import os
import re
import socket
import stat
import subprocess
import time

import numpy as np
import pytest

import neuronet
from neuronet import files
from test_hostile_harness import assert_bounded, assert_one_clear_error, assert_one_cli_line, cli, run_cases, snapshot

MODULE = "test_hostile_file_system"
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
MODEL = neuronet.LogisticRegression(max_iter=3).fit(np.eye(4), [0, 1, 0, 1])


# --- what the child runs -------------------------------------------------------------------


def save_to(path):
    neuronet.save(MODEL, path)
    return os.path.realpath(path)


def save_to_a_fake_device(path):
    """Save where os.stat reports a character device (the mode of /dev/full), without one."""
    real_stat = os.stat

    def fake_stat(target, *args, **kwargs):
        status = real_stat(target, *args, **kwargs)
        if os.fspath(target) == os.path.realpath(path):
            return os.stat_result((stat.S_IFCHR | 0o666, *status[1:]))
        return status

    os.stat = fake_stat
    save_to(path)


def save_on_a_full_disk(path):
    def write(file):
        file.write(b"half")
        raise OSError(errno.ENOSPC, "No space left on device")

    files.write_atomically(path, write)


def train_to(output):
    return cli("train", "--output", output, "--quiet")


def race(path, saves):
    """Two processes each save ``saves`` times to ``path``: the failures of each."""
    children = []
    for _ in range(2):
        reading, writing = os.pipe()
        pid = os.fork()
        if pid == 0:
            failures = 0
            for _ in range(saves):
                try:
                    neuronet.save(MODEL, path)
                except OSError:
                    failures += 1
            os.write(writing, str(failures).encode())
            os._exit(0)
        os.close(writing)
        children.append((pid, reading))
    failures = []
    for pid, reading in children:
        os.waitpid(pid, 0)
        failures.append(int(os.read(reading, 32)))
        os.close(reading)
    neuronet.load(path)
    return failures


# --- the cases -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def child(tmp_path_factory):
    """Every case of this module in one child process: (the folder of special files,
    {case: result}, its snapshot before, and after)."""
    root = tmp_path_factory.mktemp("hostile-file-system")
    folder, links = root / "special", root / "links"
    folder.mkdir()
    os.mkfifo(folder / "pipe")
    (folder / "folder").mkdir()
    listening = socket.socket(socket.AF_UNIX)
    listening.bind(str(folder / "socket"))
    (folder / "device").write_bytes(b"an ordinary file, reported as a device")
    (folder / "kept.npz").write_bytes(b"the old model")
    (links / "runs").mkdir(parents=True)
    (links / "runs" / "run3.npz").write_bytes(b"the old run 3")
    os.symlink(os.path.join("runs", "run3.npz"), links / "latest.npz")
    (root / "race").mkdir()
    before = snapshot(folder)
    cases = {
        "a FIFO": (MODULE, "save_to", str(folder / "pipe")),
        "a folder": (MODULE, "save_to", str(folder / "folder")),
        "a path ending in a separator": (MODULE, "save_to", str(folder / "absent") + os.sep),
        "a socket": (MODULE, "save_to", str(folder / "socket")),
        "a device": (MODULE, "save_to_a_fake_device", str(folder / "device")),
        "a full disk": (MODULE, "save_on_a_full_disk", str(folder / "kept.npz")),
        "train --output folder/": (MODULE, "train_to", str(folder / "new") + os.sep),
        "train --output an existing folder": (MODULE, "train_to", str(folder / "folder")),
        "train --output a FIFO": (MODULE, "train_to", str(folder / "pipe")),
        "a link": (MODULE, "save_to", str(links / "latest.npz")),
        "a race": (MODULE, "race", str(root / "race" / "model.npz"), 40),
    }
    results = dict(zip(cases, run_cases(list(cases.values()))))
    listening.close()
    return root, results, before, snapshot(folder)


@pytest.mark.parametrize("case, kind", [("a FIFO", "a FIFO"), ("a folder", "a folder"),
                                        ("a path ending in a separator", "names a folder"),
                                        ("a socket", "a socket"), ("a device", "a character device")])
def test_saving_over_a_special_file_is_refused_in_one_line_before_anything_is_written(child, case, kind):
    _, results, before, after = child
    assert_one_clear_error(results[case], ("ValueError",), f"^cannot save to '.*': it (is )?{kind}")
    assert_bounded(results[case], seconds=5, mib=20)  # a FIFO is never opened: nothing waits for a reader
    assert after == before


def test_an_os_error_while_saving_names_the_file_and_keeps_the_old_one(child):
    root, results, before, after = child
    assert_one_clear_error(results["a full disk"], ("OSError",), f"No space left on device: '{root}/special/kept.npz'")
    assert (root / "special" / "kept.npz").read_bytes() == b"the old model" and after == before


@pytest.mark.parametrize("case, kind", [("train --output folder/", "names a folder"),
                                        ("train --output an existing folder", "is a folder"),
                                        ("train --output a FIFO", "is a FIFO")])
def test_train_refuses_an_output_it_cannot_write_before_training(child, case, kind):
    _, results, before, after = child
    assert_one_cli_line(results[case], f"^neuronet train: error: cannot save to '.*': it {kind}")
    assert "Training" not in results[case]["returned"]["stdout"]  # refused before the data is even read
    assert_bounded(results[case], seconds=10, mib=60)
    assert after == before


def test_saving_through_a_symbolic_link_replaces_its_target_and_keeps_the_link(child):
    root, results, _, _ = child
    folder = root / "links"
    assert results["a link"]["returned"] == str(folder / "runs" / "run3.npz")
    assert os.readlink(folder / "latest.npz") == os.path.join("runs", "run3.npz")
    assert neuronet.load(folder / "latest.npz").max_iter == 3
    assert sorted(os.listdir(folder / "runs")) == ["run3.npz"]


def test_the_temporary_file_of_a_save_through_a_link_is_in_the_targets_folder(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere" / "model.npz", tmp_path / "link.npz")
    written_in = []
    files.write_atomically(tmp_path / "link.npz", lambda file: written_in.append(
        os.path.dirname(os.readlink(f"/proc/self/fd/{file.fileno()}"))))
    assert written_in == [str(tmp_path / "elsewhere")] and (tmp_path / "elsewhere" / "model.npz").exists()


# --- temporary files ---------------------------------------------------------------------------


def test_two_processes_saving_to_the_same_path_both_succeed_every_time(child):
    root, results, _, _ = child
    assert results["a race"]["returned"] == [0, 0], results["a race"]
    assert os.listdir(root / "race") == ["model.npz"]


def a_dead_pid():
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


@pytest.mark.parametrize("tag, age_days, kept", [
    (f"{socket.gethostname()}.{os.getpid()}.abc123", 0, True),  # this host, a live writer: never deleted
    (f"{socket.gethostname()}.{a_dead_pid()}.abc123", 0, False),  # this host, its process gone: abandoned
    ("another-host.example.org.12345.abc123", 0, True),  # another host: its process cannot be checked
    ("another-host.example.org.12345.abc123", 2, False),  # … until it is over a day old
    (f"{socket.gethostname()}.{os.getpid()}.abc123", 2, False),  # a day old, whoever wrote it
    ("abc123", 0, False),  # named by an older neuronet, which cleaned up on every save
])
def test_a_save_deletes_only_the_temporary_files_that_killed_saves_left(tmp_path, tag, age_days, kept):
    stale = tmp_path / f".model.npz.{tag}.tmp"
    stale.write_bytes(b"a temporary file")
    os.utime(stale, (time.time() - age_days * 86400,) * 2)
    neuronet.save(MODEL, tmp_path / "model.npz")
    assert stale.exists() == kept


def test_a_temporary_file_is_named_by_host_and_process(tmp_path):
    names = []
    files.write_atomically(tmp_path / "model.npz", lambda file: names.append(
        os.path.basename(os.readlink(f"/proc/self/fd/{file.fileno()}"))))
    assert re.fullmatch(rf"\.model\.npz\.{re.escape(socket.gethostname())}\.{os.getpid()}\.\w+\.tmp", names[0])
