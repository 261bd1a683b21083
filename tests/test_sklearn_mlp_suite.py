"""scikit-learn's own MLP test module, run against neuronet's estimators.

At test time the installed scikit-learn's ``sklearn/neural_network/tests/test_mlp.py``
is copied into ``tmp_path``, its ``from sklearn.neural_network import MLPClassifier,
MLPRegressor`` becomes ``from neuronet import MLPClassifier, MLPRegressor`` (only those
two names: every other scikit-learn import, ``ConvergenceWarning`` included, stays), and
the copy runs in a fresh ``python -m pytest`` with the tests in ``EXEMPT`` deselected.

To rerun the copy by hand, look in this test's ``tmp_path`` (printed on failure) and
run ``python -m pytest -q test_mlp.py`` there with the same ``--deselect`` options.
"""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

# Tests of the copied module that read or call scikit-learn's private implementation
# (attributes and methods whose names start with "_"), so they cannot pass for another
# implementation of the same public API.  {test function name: reason}.
EXEMPT = {
    "test_fit": (
        "builds a 'fitted' estimator by hand and sets scikit-learn's private optimizer state "
        "(_coef_grads, _intercept_grads, _no_improvement_count, _coef_velocity, "
        "_intercept_velocity) before partial_fit; the writes are inert for neuronet, and "
        "scikit-learn passes without them, so this could be un-exempted once partial_fit "
        "continues from hand-set coefs_/intercepts_/n_layers_/n_outputs_/out_activation_/t_"
    ),
    "test_gradient": (
        "calls the private method mlp._loss_grad_lbfgs(theta, X, Y, None, activations, "
        "deltas, coef_grads, intercept_grads) with scikit-learn's packed-parameter layout"
    ),
    "test_learning_rate_warmstart": (
        "reads mlp._optimizer.learning_rate (scikit-learn's private SGDOptimizer object) "
        "after each warm-started fit"
    ),
    "test_adaptive_learning_rate": (
        "reads clf._optimizer.learning_rate (scikit-learn's private SGDOptimizer object) "
        "to check the adaptive schedule divided it below 1e-6"
    ),
    "test_n_iter_no_change": (
        "reads clf._no_improvement_count, scikit-learn's private early-stopping counter"
    ),
    "test_n_iter_no_change_inf": (
        "reads clf._no_improvement_count, scikit-learn's private early-stopping counter"
    ),
}

SWAPPED = ("MLPClassifier", "MLPRegressor")

# The copied module uses scikit-learn's `global_random_seed` fixture, defined in
# sklearn/conftest.py, which is not on the path of a copy in tmp_path.  This mirrors its
# default (seed 42, used when SKLEARN_TESTS_GLOBAL_RANDOM_SEED is unset).
CONFTEST = '''\
def pytest_generate_tests(metafunc):
    if "global_random_seed" in metafunc.fixturenames:
        metafunc.parametrize("global_random_seed", [42])
'''

TIMEOUT_S = 1800
TAIL_LINES = 250


def _installed_test_file():
    import sklearn

    path = Path(sklearn.__file__).parent / "neural_network" / "tests" / "test_mlp.py"
    if not path.is_file():
        pytest.skip(f"scikit-learn {sklearn.__version__} ships no {path}")
    return path


def _swap_import(source):
    """Import MLPClassifier and MLPRegressor from neuronet instead of scikit-learn."""
    lines = source.splitlines(keepends=True)
    replaced = 0
    # Edit from the bottom so earlier line numbers stay valid.
    imports = [n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ImportFrom)]
    for node in sorted(imports, key=lambda n: n.lineno, reverse=True):
        if node.level or node.module != "sklearn.neural_network":
            continue
        swapped = [a for a in node.names if a.name in SWAPPED]
        if not swapped:
            continue
        kept = [a for a in node.names if a.name not in SWAPPED]

        def names(aliases):
            return ", ".join(a.name if a.asname is None else f"{a.name} as {a.asname}" for a in aliases)

        indent = lines[node.lineno - 1][: node.col_offset]
        new = []
        if kept:
            new.append(f"{indent}from sklearn.neural_network import {names(kept)}\n")
        new.append(f"{indent}from neuronet import {names(swapped)}\n")
        lines[node.lineno - 1 : node.end_lineno] = new
        replaced += len(swapped)
    assert replaced == len(SWAPPED), f"expected one import of each of {SWAPPED} from sklearn.neural_network"
    rewritten = "".join(lines)
    # Nothing else may still reach scikit-learn's estimators.
    for node in ast.walk(ast.parse(rewritten)):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sklearn"):
            assert not {a.name for a in node.names} & set(SWAPPED), ast.unparse(node)
        if isinstance(node, ast.Attribute) and node.attr in SWAPPED:
            raise AssertionError(f"the module reaches {node.attr} through an attribute: {ast.unparse(node)}")
    return rewritten


def test_sklearn_mlp_test_module_passes_with_neuronet(tmp_path):
    import neuronet

    source = _installed_test_file().read_text(encoding="utf-8")
    for name in EXEMPT:  # a renamed or removed test means this list needs review
        assert f"\ndef {name}(" in source, f"exempt test {name} is not in the installed test_mlp.py"

    copied = tmp_path / "test_mlp.py"
    copied.write_text(_swap_import(source), encoding="utf-8")
    (tmp_path / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")  # rootdir = tmp_path

    env = dict(os.environ)
    env.pop("PYTEST_ADDOPTS", None)
    # One BLAS thread unless told otherwise: the module's matrices are tiny, and threaded BLAS on a
    # busy machine made scikit-learn's own run of it 4-25x slower (3.8 s against 16-109 s on 2 CPUs).
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    # Test the neuronet this process imported, wherever it comes from.
    package_root = str(Path(neuronet.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)

    # No -W filter for ConvergenceWarning: the module already silences it wherever it provokes it
    # (scikit-learn's own estimators run it with no warning left over), pytest.warns checks for it,
    # and test_preserve_feature_names turns every UserWarning into an error; a warning left in the
    # summary is a difference from scikit-learn worth seeing.
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfE", "--tb=short",
               copied.name]
    for name in EXEMPT:
        command += ["--deselect", f"{copied.name}::{name}"]
    try:
        result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True,
                                timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        result, output = None, exc.stdout or ""
        if isinstance(output, bytes):
            output = output.decode(errors="replace")
    else:
        output = result.stdout + result.stderr
    tail = "\n".join(output.splitlines()[-TAIL_LINES:])
    if result is None:
        pytest.fail(f"scikit-learn's test_mlp.py with neuronet did not finish in {TIMEOUT_S} s "
                    f"(copy in {tmp_path}); output so far:\n{tail}", pytrace=False)
    if result.returncode != 0:
        pytest.fail(f"scikit-learn's test_mlp.py with neuronet's MLPClassifier/MLPRegressor failed "
                    f"(exit {result.returncode}; copy in {tmp_path}; exempt: {sorted(EXEMPT)}):\n{tail}",
                    pytrace=False)
    if f"{len(EXEMPT)} deselected" not in output:
        pytest.fail(f"the {len(EXEMPT)} exempt tests were not all deselected:\n{tail}", pytrace=False)
