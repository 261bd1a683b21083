"""Resume: a checkpoint continues only the run that wrote it. Other settings that steer the
run (early stopping's tol and n_iter_no_change, a generator's state) are refused, and a
forged or damaged stored state is refused in one line before any of it is restored —
never an exception from deep inside the loop, never a silently different run.

The hostile resumes run in a child process (see ``test_hostile_harness``).
"""

import copy
import os
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import neuronet
from neuronet import checkpoint
from neuronet.files import load_file, save_file
from test_hostile_harness import HOSTILE_TEXT, assert_bounded, assert_one_clear_error, leaves, run_cases, snapshot

MODULE = "test_hostile_resume"
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
X = np.random.default_rng(0).normal(size=(60, 4))
Y = (X[:, 0] > 0).astype(int)
SETTINGS = {"hidden_layer_sizes": (4,), "max_iter": 3, "random_state": 0}


# --- what the child runs -------------------------------------------------------------------


def mlp(**changes):
    return neuronet.MLPClassifier(**{**SETTINGS, **changes})


def resume(path, changes=None, max_iter=None):
    """Continue the run in ``path`` (with its settings, ``changes`` made): the coefficients."""
    changes = dict(changes or {})
    if isinstance(changes.get("random_state"), list):  # ["generator", seed]: a numpy Generator
        changes["random_state"] = np.random.default_rng(changes["random_state"][1])
    model = mlp(**changes, **({"max_iter": max_iter} if max_iter else {}))
    model.fit(X, Y, checkpoint=path, resume=True)
    return [weights.tolist() for weights in model.coefs_]


def resume_logistic(path, tol):
    neuronet.LogisticRegression(max_iter=3, tol=tol).fit(X, Y, checkpoint=path, resume=True)


def progress(path):
    return checkpoint.progress(path)


def uninterrupted(seed, max_iter):
    model = mlp(random_state=np.random.default_rng(seed), max_iter=max_iter).fit(X, Y)
    return [weights.tolist() for weights in model.coefs_]


# --- forged checkpoints ----------------------------------------------------------------------


def forged(source, target, change_state=None, change_arrays=None):
    """``source`` with its stored state changed, saved with a valid checksum."""
    meta, arrays = load_file(source)
    meta = copy.deepcopy({key: value for key, value in meta.items() if key != "format_version"})
    arrays = dict(arrays)
    if change_state:
        change_state(meta["tree"]["state"])
    if change_arrays:
        change_arrays(arrays)
    save_file(target, meta, arrays)
    return str(target)


def setting(key, value):
    return lambda state: state.update({key: value})


def forged_checkpoints(folder):
    """{name: (path, pattern of the one-line refusal)}"""
    run = folder / "run.ckpt"

    def mid_epoch(state):
        state["position"] = {"order": state["order"], "batch": 10**6, "loss": 0.0, "correct": 0}

    def array(name, value):
        return lambda arrays: arrays.update({name: value})

    damaged = "the checkpoint's state is damaged or not of this run: "
    return {
        "epoch -1": (forged(run, folder / "a.ckpt", setting("epoch", -1)), damaged + "epoch -1 is not within"),
        "epoch 10**9": (forged(run, folder / "b.ckpt", setting("epoch", 10**9)), "epoch 1000000000 is not within"),
        "epoch '2'": (forged(run, folder / "c.ckpt", setting("epoch", "2")), "epoch 2 is not within this run's 3"),
        "an order of 59 samples": (forged(run, folder / "d.ckpt", None, array("state/order", np.arange(59))),
                                   "order of the samples is not a permutation of the 60 samples"),
        "an order repeating a sample": (forged(run, folder / "e.ckpt", None, array("state/order", np.zeros(60, int))),
                                        "not a permutation"),
        "a batch beyond the epoch": (forged(run, folder / "f.ckpt", mid_epoch), r"position \(batch 1000000\)"),
        "weights of another shape": (forged(run, folder / "g.ckpt", None,
                                            array("state/weights/0/weights", np.zeros((2, 2)))),
                                     r"weights '0/weights' has shape \(2, 2\), not \(4, 4\)"),
        "an optimizer slot of another size": (forged(run, folder / "h.ckpt", None,
                                                     array("state/optimizer/slots/m", np.zeros(3))),
                                              r"optimizer slots 'm' has shape \(3,\)"),
        "a history of 2 steps at epoch 3": (forged(run, folder / "i.ckpt", None,
                                                   array("state/history/epoch", np.arange(2))),
                                            "history does not have the 3 steps done"),
        "no callback state": (forged(run, folder / "j.ckpt", setting("callbacks", [])),
                              "callbacks are not of this run"),
        "a generator state that is not one": (forged(run, folder / "k.ckpt", setting("rng", {"state": "x"})), damaged),
    }


@pytest.fixture(scope="module")
def child(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile-resume")
    mlp().fit(X, Y, checkpoint=folder / "run.ckpt")
    mlp(random_state=np.random.default_rng(1)).fit(X, Y, checkpoint=folder / "generator.ckpt")
    neuronet.LogisticRegression(max_iter=3).fit(X, Y, checkpoint=folder / "logistic.ckpt")
    hostile = forged_checkpoints(folder)
    extension = tmp_path_factory.mktemp("extension") / "generator.ckpt"
    extension.write_bytes((folder / "generator.ckpt").read_bytes())
    before = snapshot(folder)
    cases = {
        **{("resume", name): (MODULE, "resume", path) for name, (path, _) in hostile.items()},
        ("progress", "epoch 10**9"): (MODULE, "progress", hostile["epoch 10**9"][0]),
        "another tol": (MODULE, "resume", str(folder / "run.ckpt"), {"tol": 0.01}, 6),
        "another n_iter_no_change": (MODULE, "resume", str(folder / "run.ckpt"), {"n_iter_no_change": 3}, 6),
        "another logistic tol": (MODULE, "resume_logistic", str(folder / "logistic.ckpt"), 0.01),
        "another generator": (MODULE, "resume", str(folder / "generator.ckpt"), {"random_state": ["generator", 2]}),
        "an integer for a generator": (MODULE, "resume", str(folder / "generator.ckpt"), {"random_state": 1}),
        "fuzz the state": (MODULE, "fuzz_state", str(folder / "run.ckpt"), 40),
        "the same generator": (MODULE, "resume", str(extension), {"random_state": ["generator", 1]}, 6),
        "uninterrupted": (MODULE, "uninterrupted", 1, 6),
    }
    results = dict(zip(cases, run_cases(list(cases.values()), case_seconds=60)))
    return hostile, results, before, snapshot(folder)


def test_a_forged_or_damaged_stored_state_is_refused_in_one_line_before_it_is_restored(child):
    hostile, results, before, after = child
    for name, (_, pattern) in hostile.items():
        assert_one_clear_error(results["resume", name], ("ValueError",), pattern)
        assert_bounded(results["resume", name], seconds=10, mib=40)
    assert after == before


def test_the_progress_of_a_forged_checkpoint_is_refused_in_one_line(child):
    _, results, *_ = child
    assert_one_clear_error(results["progress", "epoch 10**9"], ("ModelFileError",), "progress is damaged")


@pytest.mark.parametrize("case, difference", [
    ("another tol", r"callbacks.0.tol: 0.0001 then, 0.01 now"),
    ("another n_iter_no_change", r"callbacks.0.n_iter_no_change: 10 then, 3 now"),
    ("another logistic tol", r"callbacks.0.tol: 1e-06 then, 0.01 now"),
    ("another generator", r"random_state.state.state.key: 'sha256:\w+' then, 'sha256:\w+' now"),
    ("an integer for a generator", r"random_state.state.state.key: 'sha256:\w+' then, 'sha256:\w+' now"),
])
def test_a_resume_with_other_settings_that_steer_the_run_is_refused(child, case, difference):
    _, results, *_ = child
    result = results[case]
    assert result["raised"] == "ValueError" and re.fullmatch(difference, result["message"].splitlines()[1].strip())
    assert_bounded(result, seconds=10, mib=40)


def test_an_identically_seeded_generator_resumes_the_run_exactly(child):
    _, results, *_ = child
    resumed, straight = results["the same generator"], results["uninterrupted"]
    assert resumed["raised"] is None, resumed["message"]
    assert resumed["returned"] == straight["returned"]


# --- any hostile value in the stored state ----------------------------------------------------


HOSTILE_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 5), st.just(10**30), st.floats(allow_nan=True), HOSTILE_TEXT,
    st.lists(st.integers(-1, 3), max_size=3), st.just({}), st.just({"a": 1}), st.just({"__float__": "inf"}),
    st.just({"__array__": "state/order"}), st.just({"__array__": "state/weights/0/bias"}),
)


def fuzz_state(path, examples):
    """Replace one value of the stored state with a hostile one (valid checksum), resume:
    a ValueError (one line), or the run goes on; no other exception. Returns the count refused."""
    import tempfile

    meta, arrays = load_file(path)
    meta = {key: value for key, value in meta.items() if key != "format_version"}
    target = os.path.join(tempfile.mkdtemp(), "fuzzed.ckpt")
    refused = []

    @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(data=st.data())
    def one(data):
        state = copy.deepcopy(meta["tree"]["state"])
        where = data.draw(st.sampled_from(leaves(state)[1:]))
        parent = state
        for key in where[:-1]:
            parent = parent[key]
        parent[where[-1]] = data.draw(HOSTILE_VALUES)
        save_file(target, {**meta, "tree": {"state": state}}, arrays)
        try:
            resume(target, max_iter=4)
        except ValueError as error:
            assert str(error).count("\n") == 0
            refused.append(where)

    one()
    return len(refused)


def test_any_hostile_value_in_a_stored_state_gives_a_value_error_or_a_run(child):
    _, results, *_ = child
    result = results["fuzz the state"]
    assert result["raised"] is None, result["message"]
    assert result["returned"] > 20
    assert_bounded(result, seconds=60, mib=60)
