"""The harness of the hostile tests, and the facts it rests on.

A hostile load runs in a child process (a fresh Python with ``OPENBLAS_NUM_THREADS=1``
that imports neuronet once), each case in a process forked from it: the case's time is
measured, and its memory is the growth of its peak resident set (``ru_maxrss``) over
what it started with — not an address-space limit, which BLAS buffers would trip. A case
that runs past its time limit is killed and reported as such, so a hang (a FIFO read
for ever) fails the test instead of stopping the suite.

Each case is a function of a test module, named by module and function, with JSON
arguments; it returns JSON-able facts or raises. :func:`run_cases` gives, for each case,
``{"raised", "message", "returned", "seconds", "peak_mib"}``.
"""

import contextlib
import hashlib
import io
import json
import os
import resource
import select
import signal
import stat
import subprocess
import sys
import time
import traceback
from importlib import import_module

import pytest
from hypothesis import strategies as st

HERE = os.path.dirname(os.path.abspath(__file__))
CASE_SECONDS = 20  # a case still running after this is killed and reported as a hang
COMMANDS = ("predict", "train")  # the commands the cases run (see cli)


def run_cases(cases, case_seconds=CASE_SECONDS):
    """Run ``cases`` — ``(module, function, *arguments)`` — in a child process, each in a
    process forked from it; returns one result dict per case, in order."""
    environment = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                   "PYTHONPATH": HERE + os.pathsep + os.environ.get("PYTHONPATH", "")}
    request = json.dumps({"cases": [list(case) for case in cases], "seconds": case_seconds})
    child = subprocess.run([sys.executable, "-c", "import test_hostile_harness as h; h.serve()"], input=request,
                           capture_output=True, text=True, env=environment, timeout=60 + case_seconds * len(cases))
    assert child.returncode == 0, child.stderr[-3000:]
    return json.loads(child.stdout.splitlines()[-1])


def serve():
    """The child's side: read the cases from stdin, fork one process per case, print the results."""
    request = json.load(sys.stdin)
    for module in {module for module, *_ in request["cases"]} | {f"neuronet.cli.{name}" for name in COMMANDS}:
        import_module(module)  # once, before forking: every case starts with them imported
    print(json.dumps([_run_forked(case, request["seconds"]) for case in request["cases"]]))


def _peak_kib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _run_forked(case, seconds):
    reading, writing = os.pipe()
    pid = os.fork()
    if pid == 0:  # the case's own process: it reports through the pipe, then leaves at once
        os.close(reading)
        with os.fdopen(writing, "w") as report:
            report.write(json.dumps(_run(case)))
        os._exit(0)
    os.close(writing)
    with os.fdopen(reading) as report:
        ready, _, _ = select.select([report], [], [], seconds)
        text = report.read() if ready else ""
    if not ready:
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    if not text:
        return {"raised": "Hang" if not ready else "Died", "message": f"no result within {seconds} s",
                "returned": None, "seconds": seconds, "peak_mib": None}
    return json.loads(text)


def _run(case):
    module, function, *arguments = case
    start_kib, clock = _peak_kib(), time.perf_counter()
    raised = message = returned = None
    try:
        returned = getattr(import_module(module), function)(*arguments)
    except BaseException as error:  # noqa: BLE001 - what a hostile input raises is the fact being measured
        raised, message = type(error).__name__, str(error)
        if not isinstance(error, (ValueError, OSError)):
            message += "\n" + traceback.format_exc()
    return {"raised": raised, "message": message, "returned": returned,
            "seconds": time.perf_counter() - clock, "peak_mib": (_peak_kib() - start_kib) / 1024}


# --- helpers the families share -------------------------------------------------------------


def cli(*argv):
    """Run ``neuronet ARGV`` in this process: {"status", "stdout", "stderr"}."""
    from neuronet.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([str(arg) for arg in argv])
    return {"status": status, "stdout": out.getvalue(), "stderr": err.getvalue()}


def snapshot(folder):
    """Every entry under ``folder``: its kind, and for regular files their size, time and
    SHA-256; for symbolic links their target. Equal snapshots: nothing was changed."""
    entries = {}
    for parent, folders, names in os.walk(folder):
        for name in folders + names:
            path = os.path.join(parent, name)
            status = os.lstat(path)
            if stat.S_ISLNK(status.st_mode):
                entries[path] = ("link", os.readlink(path))
            elif stat.S_ISREG(status.st_mode):
                with open(path, "rb") as file:
                    digest = hashlib.sha256(file.read()).hexdigest()
                entries[path] = ("file", status.st_size, status.st_mtime_ns, digest)
            else:
                entries[path] = (stat.S_IFMT(status.st_mode),)
    return entries


def assert_bounded(result, seconds, mib):
    """The case finished within ``seconds`` and grew its peak memory by under ``mib`` MiB."""
    assert result["raised"] not in ("Hang", "Died"), result["message"]
    assert result["seconds"] < seconds, result
    assert result["peak_mib"] < mib, result


def assert_one_clear_error(result, kind, pattern):
    """The case raised ``kind`` (or a subclass named in ``kind``), with one line matching ``pattern``."""
    import re

    assert result["raised"] in kind, result
    assert "\n" not in result["message"].strip() and re.search(pattern, result["message"]), result["message"]


def assert_one_cli_line(result, pattern, status=2):
    """The command ended with ``status`` and one line on stderr matching ``pattern``, no traceback."""
    import re

    assert result["raised"] is None, result
    returned = result["returned"]
    assert returned["status"] == status, returned
    lines = returned["stderr"].strip().splitlines()
    assert "Traceback" not in returned["stderr"] and any(re.search(pattern, line) for line in lines), returned


# --- the harness's own facts -----------------------------------------------------------------


def allocate(mib):
    import numpy as np

    return int(np.ones(mib << 17).sum()) >> 17  # mib MiB of float64, touched


def sleep(seconds):
    time.sleep(seconds)


def fail(message):
    raise ValueError(message)


@pytest.fixture(scope="module")
def measured():
    return run_cases([("test_hostile_harness", "allocate", 200), ("test_hostile_harness", "allocate", 1),
                      ("test_hostile_harness", "sleep", 30), ("test_hostile_harness", "fail", "one line")],
                     case_seconds=2)


def test_the_harness_measures_the_memory_a_case_allocates(measured):
    big, small, *_ = measured
    assert big["returned"] == 200 and 190 < big["peak_mib"] < 260
    assert small["returned"] == 1 and small["peak_mib"] < 20


def test_the_harness_reports_a_hanging_case_as_a_hang_within_its_limit(measured):
    hang = measured[2]
    assert hang["raised"] == "Hang" and hang["seconds"] == 2


def test_the_harness_reports_what_a_case_raised(measured):
    assert_one_clear_error(measured[3], ("ValueError",), "^one line$")


def test_a_snapshot_sees_a_changed_byte_and_a_replaced_node(tmp_path):
    (tmp_path / "a").write_bytes(b"1")
    os.mkfifo(tmp_path / "pipe")
    before = snapshot(tmp_path)
    (tmp_path / "a").write_bytes(b"2")
    assert snapshot(tmp_path) != before
    os.remove(tmp_path / "pipe")
    (tmp_path / "pipe").write_bytes(b"")
    (tmp_path / "a").write_bytes(b"1")
    assert snapshot(tmp_path)[str(tmp_path / "pipe")][0] == "file"


def leaves(tree, path=()):
    """The paths of every value in a JSON tree (every dict entry and list item)."""
    if isinstance(tree, dict):
        items = tree.items()
    elif isinstance(tree, list):
        items = enumerate(tree)
    else:
        return [path]
    return [path] + [leaf for key, value in items for leaf in leaves(value, (*path, key))]


# Short strings for fuzzing stored values: digits, a letter, a sign, a point, non-ASCII, NUL,
# a quote and a backslash. An explicit alphabet: Hypothesis's default one builds a table of
# every Unicode character on first use, some 200 MiB that the memory bounds would charge to
# the case under test.
HOSTILE_TEXT = st.text(alphabet="0a.-\u00e9\x00\"\\", max_size=3)
