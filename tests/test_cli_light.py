"""The neuronet command starts light, stops cleanly on Ctrl-C, and shows and clears its image cache."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

import neuronet
from neuronet import datasets, imagefolder
from neuronet.cli import COMMANDS, main, make_parser
from command_line import private_cache, run  # noqa: F401 (a fixture)
from photos import make_photo_folder

HEAVY = {"sklearn", "matplotlib", "gymnasium", "scipy", "PIL", "tqdm"}
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


# --- a light start ----------------------------------------------------------------------
def heavy_modules_after(code, tmp_path):
    """The heavy packages a fresh interpreter has imported after running ``code``."""
    where = tmp_path / "modules.json"
    probe = f"{code}\nimport json, sys\njson.dump(sorted(sys.modules), open({str(where)!r}, 'w'))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=ENV, timeout=120)
    assert result.returncode == 0, result.stderr
    return HEAVY & {name.split(".")[0] for name in json.loads(where.read_text())}


@pytest.mark.parametrize("argv", [["--help"], ["--version"], []])
def test_neuronet_help_and_version_import_no_heavy_package(argv, tmp_path):
    runs_the_command = ("import runpy, sys\n"  # exactly `python -m neuronet.cli ARGV`
                        f"sys.argv = ['neuronet', *{argv!r}]\n"
                        "try:\n    runpy.run_module('neuronet.cli', run_name='__main__', alter_sys=True)\n"
                        "except SystemExit as end:\n    assert end.code in (0, None), end.code")
    assert heavy_modules_after(runs_the_command, tmp_path) == set()


def test_import_neuronet_imports_no_heavy_package(tmp_path):
    assert heavy_modules_after("import neuronet", tmp_path) == set()


def test_a_command_loads_what_it_needs(tmp_path):
    # The probe sees heavy packages when they are there: train's help shows estimator defaults.
    loads = "from neuronet.cli import main\ntry:\n    main(['train', '--help'])\nexcept SystemExit:\n    pass"
    assert {"sklearn", "scipy"} <= heavy_modules_after(loads, tmp_path)


def test_the_command_list_is_the_same_with_or_without_the_commands_imported():
    assert make_parser(full=[]).format_help() == make_parser().format_help()
    listing = make_parser(full=[]).format_help()
    assert all(name in listing for name, _, _ in COMMANDS)


def test_an_unknown_command_is_refused_with_the_list_of_commands(capsys):
    with pytest.raises(SystemExit) as end:
        main(["trian"])
    assert end.value.code == 2
    assert "invalid choice: 'trian'" in capsys.readouterr().err


def test_every_public_name_comes_on_first_use_and_is_listed():
    for name in neuronet.__all__:
        assert getattr(neuronet, name) is not None
    assert set(neuronet.__all__) <= set(dir(neuronet))
    assert neuronet.nn.Dense is neuronet.nn.Dense and neuronet.load.__module__ == "neuronet.persistence"
    with pytest.raises(AttributeError, match="has no attribute 'Perceptron'"):
        neuronet.Perceptron
    namespace = {}
    exec("from neuronet import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(neuronet.__all__)


# --- Ctrl-C ---------------------------------------------------------------------------
# A neuronet command that announces it is starting; every photo it opens takes 0.2 s to decode.
CHILD = """
import sys, time
from PIL import Image
from neuronet.cli import main

def slow_open(*args, real_open=Image.open, **kwargs):
    print("decoding", file=sys.stderr, flush=True)
    time.sleep(0.2)
    return real_open(*args, **kwargs)

Image.open = slow_open
print("starting", file=sys.stderr, flush=True)
sys.exit(main(sys.argv[1:]))
"""


def ctrl_c(argv, tmp_path, when, stream="stderr", delay=0.0):
    """Run ``neuronet ARGV``, press Ctrl-C ``delay`` seconds after it writes the line ``when``;
    (exit status, what stderr says besides the child's own markers)."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, *map(str, argv)], cwd=tmp_path, env=ENV,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in getattr(child, stream):
        if when in line:
            break
    assert child.poll() is None, f"the command ended before it saw {when!r}"
    time.sleep(delay)
    child.send_signal(signal.SIGINT)
    try:
        _, err = child.communicate(timeout=120)
    finally:
        child.kill()  # only if Ctrl-C did not end it
    # the child's markers come from several decoding threads at once, so they may share a line
    said = (line.replace("starting", "").replace("decoding", "") for line in err.splitlines())
    return child.returncode, [line for line in said if line]


@pytest.mark.parametrize("delay", [0.0, 0.3])
def test_ctrl_c_while_the_command_loads_is_one_line_and_status_130(delay, tmp_path):
    code, said = ctrl_c(["study", "learning-rate", "--iterations", 2000], tmp_path, when="starting", delay=delay)
    assert code == 130
    assert len(said) == 1 and "interrupted by Ctrl-C" in said[0], said


def test_ctrl_c_while_decoding_photos_is_one_line_and_status_130(tmp_path):
    make_photo_folder(tmp_path / "photos", per_class=20, extras=False)
    code, said = ctrl_c(["train", "--data", tmp_path / "photos", "--image-size", 8], tmp_path, when="decoding")
    assert code == 130
    assert said == ["neuronet: interrupted by Ctrl-C"]
    assert not os.path.exists(tmp_path / "neuronet-runs")


def test_ctrl_c_while_a_study_trains_says_where_it_stopped(tmp_path):
    code, said = ctrl_c(["study", "learning-rate", "--iterations", 10**7], tmp_path, when="iterations of gradient",
                        stream="stdout", delay=1.0)  # the header comes just before training starts: let it start
    assert code == 130
    assert len(said) == 1 and said[0].startswith("neuronet: training interrupted by Ctrl-C after iteration"), said


# --- the image cache --------------------------------------------------------------------


def test_cache_lists_its_entries_and_clear_removes_only_its_own_files(capsys, tmp_path):
    code, out, _ = run(capsys, "cache")
    assert code == 0 and out == f"image cache: {tmp_path / 'cache'}\nempty\n"

    make_photo_folder(tmp_path / "photos", per_class=10, extras=False)
    for size in (8, 12):
        datasets.load(str(tmp_path / "photos"), image_size=size)
    (tmp_path / "cache" / "notes.txt").write_text("mine, not the cache's")
    code, out, _ = run(capsys, "cache")
    assert out.splitlines()[1].split() == ["written", "on", "disk", "images", "folder"]
    entries = out.splitlines()[2:-1]
    assert code == 0 and len(entries) == 2
    on_disk = sorted(os.path.getsize(tmp_path / "cache" / name) for name in os.listdir(tmp_path / "cache")
                     if name.endswith(".images"))
    for line, size, disk in zip(entries, (8, 12), on_disk):  # in the order written
        assert f"20 RGB {size}×{size}" in line and line.endswith(str(tmp_path / "photos"))
        assert f" {imagefolder.size_text(disk)} " in line
    assert out.splitlines()[-1].startswith(f"2 entries ({imagefolder.size_text(sum(on_disk))})")
    assert "neuronet cache --clear" in out

    (tmp_path / "cache" / ("0" * 32 + ".safetensors")).write_bytes(b"an entry of version 3")
    code, out, _ = run(capsys, "cache")
    assert "an entry of an older version, no longer read" in out and out.splitlines()[-1].startswith("3 entries")

    code, out, _ = run(capsys, "cache", "--clear")
    assert code == 0 and out.startswith("removed 3 entries (")
    assert os.listdir(tmp_path / "cache") == ["notes.txt"]


def test_a_cache_that_cannot_be_written_is_one_warning_and_training_goes_on(capsys, tmp_path, monkeypatch):
    make_photo_folder(tmp_path / "photos", per_class=10, extras=False)
    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("NEURONET_CACHE", str(tmp_path / "a-file" / "cache"))
    code, out, err = run(capsys, "train", "--data", tmp_path / "photos", "--image-size", 8, "--epochs", 5, "--quiet",
                         "--output", "photos.npz")
    assert code == 0, err
    assert "test accuracy" in out
    warnings = [line for line in err.splitlines() if "image cache" in line]
    assert len(warnings) == 1 and warnings[0].startswith("warning: could not write the image cache in ")
