"""What the tests of the `neuronet` command share: a private folder and cache, and a call
of the command in this process that returns (exit status, stdout, stderr)."""

import pytest

from neuronet.cli import main


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Each test runs in its own folder, with its own image cache."""
    monkeypatch.setenv("NEURONET_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


def run(capsys, *argv):
    code = main(list(map(str, argv)))
    out, err = capsys.readouterr()
    return code, out, err
