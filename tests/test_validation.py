"""neuronet.validation: scikit-learn's constraint vocabulary and messages, with stricter numbers."""

import argparse
import ast
import doctest
import math
import subprocess
import sys
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import pytest

import neuronet.validation as validation
from neuronet.validation import (InvalidParameterError, Interval, Options, StrOptions, argument_type,
                                 check_parameter, validate_params)

# scikit-learn's private module is only an oracle here, for the wording of the messages.
sk = pytest.importorskip("sklearn.utils._param_validation")

MODULE = Path(validation.__file__)


def message(call):
    with pytest.raises(Exception) as raised:
        call()
    return str(raised.value)


def both_messages(name, value, make_constraints, owner="MLPClassifier"):
    """The message of scikit-learn and of neuronet for the same constraints and value."""
    theirs = message(lambda: sk.validate_parameter_constraints({name: make_constraints(sk)}, {name: value}, owner))
    ours = message(lambda: validate_params({name: make_constraints(validation)}, {name: value}, owner))
    return theirs, ours


# --- messages: scikit-learn's, word for word ------------------------------------
def test_negative_alpha_message_is_scikit_learns_word_for_word():
    theirs, ours = both_messages("alpha", -1, lambda m: [m.Interval(Real, 0, None, closed="left")])
    assert ours == theirs
    assert ours == "The 'alpha' parameter of MLPClassifier must be a float in the range [0.0, inf). Got -1 instead."


def test_two_constraints_are_joined_with_or_as_in_scikit_learn():
    theirs, ours = both_messages("batch_size", 0, lambda m: [m.Interval(Integral, 1, None, closed="left"), None])
    assert ours == theirs
    assert "must be an int in the range [1, inf) or None. Got 0 instead." in ours


def test_three_constraints_are_joined_with_commas_and_or_as_in_scikit_learn():
    theirs, ours = both_messages("hidden_layer_sizes", "big",
                                 lambda m: [tuple, list, m.Interval(Integral, 1, None, closed="left")])
    assert ours == theirs
    assert "must be an instance of 'tuple', an instance of 'list' or an int in the range [1, inf)." in ours


@pytest.mark.parametrize("name, value, make_constraints", [
    ("shuffle", "yes", lambda m: ["boolean"]),
    ("X", 3, lambda m: ["array-like"]),
    ("scoring", 3, lambda m: [callable, None]),
    ("solver", "lbfgs", lambda m: [m.StrOptions({"adam"})]),
    ("validation_fraction", 1.0, lambda m: [m.Interval(Real, 0, 1, closed="neither")]),
    ("momentum", np.float64(2.0), lambda m: [m.Interval(Real, 0, 1, closed="both")]),
    ("offset", 3, lambda m: [m.Interval(Integral, None, 0, closed="right")]),
    ("power_t", 1.0, lambda m: [m.Options(Real, {0.5})]),
])
def test_messages_for_every_kind_of_constraint_are_scikit_learns(name, value, make_constraints):
    theirs, ours = both_messages(name, value, make_constraints)
    assert ours == theirs


def test_interval_descriptions_read_like_scikit_learns():
    assert str(Interval(Integral, 1, None, closed="left")) == "an int in the range [1, inf)"
    assert str(Interval(Real, 0, 1, closed="neither")) == "a float in the range (0.0, 1.0)"
    assert str(Interval(Real, None, 0, closed="right")) == "a float in the range (-inf, 0.0]"
    assert str(Interval(Integral, 0, 10, closed="both")) == "an int in the range [0, 10]"


def test_check_parameter_raises_the_same_message_as_validate_params():
    constraints = [Interval(Real, 0, None, closed="left")]
    one = message(lambda: check_parameter("alpha", -1, constraints, "MLPClassifier"))
    many = message(lambda: validate_params({"alpha": constraints}, {"alpha": -1}, "MLPClassifier"))
    assert one == many


# --- the exception ----------------------------------------------------------------
def test_invalid_parameter_error_is_both_a_value_error_and_a_type_error():
    assert issubclass(InvalidParameterError, ValueError)
    assert issubclass(InvalidParameterError, TypeError)
    for caught in (ValueError, TypeError):
        with pytest.raises(caught):
            check_parameter("alpha", "big", [Interval(Real, 0, None, closed="left")], "SGD")


# --- numbers: stricter than scikit-learn, on purpose --------------------------------
@pytest.mark.parametrize("flag", [True, False, np.bool_(True)])
def test_booleans_never_satisfy_a_numeric_interval(flag):
    assert not Interval(Integral, 0, None, closed="left").is_satisfied_by(flag)
    assert not Interval(Real, 0, None, closed="left").is_satisfied_by(flag)


def test_true_is_not_a_batch_size_though_scikit_learn_takes_it():
    batch_size = [Interval(Integral, 1, None, closed="left")]
    sk.validate_parameter_constraints({"batch_size": [sk.Interval(Integral, 1, None, closed="left")]},
                                      {"batch_size": True}, "MLPClassifier")  # accepted there
    with pytest.raises(InvalidParameterError, match=r"Got True instead\."):
        validate_params({"batch_size": batch_size}, {"batch_size": True}, "MLPClassifier")


def test_booleans_never_satisfy_numeric_options():
    assert not Options(Real, {1.0, 0.5}).is_satisfied_by(True)
    assert not Options(Integral, {0, 1}).is_satisfied_by(np.bool_(False))
    assert Options(Real, {1.0, 0.5}).is_satisfied_by(1)


@pytest.mark.parametrize("interval", [
    Interval(Real, None, None, closed="neither"),
    Interval(Real, 0, None, closed="left"),
    Interval(Real, 0, 1, closed="both"),
])
def test_nan_never_satisfies_an_interval(interval):
    assert not interval.is_satisfied_by(float("nan"))
    assert not interval.is_satisfied_by(np.float32("nan"))


@pytest.mark.parametrize("closed", ["left", "right", "both", "neither"])
def test_infinities_satisfy_no_interval_even_closed_at_an_unbounded_end(closed):
    interval = Interval(Real, None, None, closed=closed)
    assert not interval.is_satisfied_by(math.inf)
    assert not interval.is_satisfied_by(-np.inf)
    assert interval.is_satisfied_by(1e308)


def test_an_unbounded_end_is_described_open_whatever_closed_says():
    assert str(Interval(Real, 0, None, closed="both")) == "a float in the range [0.0, inf)"
    assert str(Interval(Real, None, 1, closed="both")) == "a float in the range (-inf, 1.0]"


def test_an_integer_interval_refuses_floats_even_whole_ones():
    interval = Interval(Integral, 1, None, closed="left")
    assert not interval.is_satisfied_by(2.0)
    assert not interval.is_satisfied_by(np.float64(2.0))
    with pytest.raises(InvalidParameterError, match=r"must be an int in the range \[1, inf\)\. Got 2\.0 instead\."):
        check_parameter("max_iter", 2.0, [interval], "MLPClassifier")


def test_an_integer_interval_accepts_python_and_numpy_integers():
    interval = Interval(Integral, 1, 10, closed="both")
    assert all(interval.is_satisfied_by(value) for value in (1, 10, np.int64(5), np.uint8(10), np.int8(1)))
    assert not any(interval.is_satisfied_by(value) for value in (0, 11, np.int64(11)))


def test_a_real_interval_accepts_ints_floats_and_numpy_numbers():
    interval = Interval(Real, 0, 1, closed="both")
    assert all(interval.is_satisfied_by(value) for value in (0, 1, 0.5, np.float32(0.5), np.float64(1.0), np.int64(0)))
    assert not any(interval.is_satisfied_by(value) for value in ("0.5", None, 1 + 0j, np.array(0.5), [0.5]))


@pytest.mark.parametrize("closed, inside", [
    ("left", (True, False)), ("right", (False, True)), ("both", (True, True)), ("neither", (False, False)),
])
def test_closed_says_which_finite_ends_belong(closed, inside):
    interval = Interval(Real, 0, 1, closed=closed)
    assert (interval.is_satisfied_by(0), interval.is_satisfied_by(1)) == inside
    assert interval.is_satisfied_by(0.5)


@pytest.mark.parametrize("args, kwargs, error", [
    ((int, 0, 1), {"closed": "left"}, ValueError),
    ((Real, 0, 1), {"closed": "open"}, ValueError),
    ((Integral, 0.5, None), {"closed": "left"}, TypeError),
    ((Integral, True, None), {"closed": "left"}, TypeError),
    ((Real, 1, 0), {"closed": "both"}, ValueError),
    ((Real, 0, math.inf), {"closed": "left"}, ValueError),
])
def test_a_malformed_interval_is_refused_when_declared(args, kwargs, error):
    with pytest.raises(error):
        Interval(*args, **kwargs)


# --- options, random_state, the other names ---------------------------------------
def test_str_options_are_described_sorted():
    assert str(StrOptions({"sgd", "adam", "lbfgs"})) == "a str among {'adam', 'lbfgs', 'sgd'}"
    assert str(Options(Real, {1.0, 0.25, 0.5})) == "a float among {0.25, 0.5, 1.0}"


def test_str_options_accept_only_their_strings():
    solver = StrOptions({"adam", "sgd"})
    assert solver.is_satisfied_by("adam") and solver.is_satisfied_by(np.str_("sgd"))
    assert not solver.is_satisfied_by("Adam") and not solver.is_satisfied_by(None) and not solver.is_satisfied_by(["adam"])
    with pytest.raises(TypeError):
        StrOptions({"adam", 1})


def test_random_state_accepts_a_generator_a_random_state_a_seed_and_none():
    for value in (None, 0, 2**32 - 1, np.int64(7), np.random.RandomState(0), np.random.default_rng(0)):
        check_parameter("random_state", value, ["random_state"], "MLPClassifier")


@pytest.mark.parametrize("value", [-1, 2**32, 1.5, True, "0"])
def test_random_state_refuses_other_seeds(value):
    with pytest.raises(InvalidParameterError) as raised:
        check_parameter("random_state", value, ["random_state"], "MLPClassifier")
    assert ("must be an int in the range [0, 4294967295], an instance of 'numpy.random.RandomState', "
            "an instance of 'numpy.random.Generator' or None.") in str(raised.value)


def test_boolean_accepts_python_and_numpy_booleans_only():
    for value in (True, False, np.bool_(True)):
        check_parameter("shuffle", value, ["boolean"], "MLPClassifier")
    for value in (0, 1, "True", None):
        with pytest.raises(InvalidParameterError):
            check_parameter("shuffle", value, ["boolean"], "MLPClassifier")


def test_array_like_means_sequences_and_arrays_not_scalars_or_strings():
    for value in ([1, 2], (1,), np.zeros((2, 2))):
        check_parameter("X", value, ["array-like"], "fit")
    for value in (3, 2.5, "abc", np.float64(1.0), None):
        with pytest.raises(InvalidParameterError):
            check_parameter("X", value, ["array-like"], "fit")


def test_a_class_constraint_is_an_isinstance_check_and_none_allows_none():
    constraints = [tuple, list, None]
    for value in ((64, 32), [64], None):
        check_parameter("hidden_layer_sizes", value, constraints, "MLPClassifier")
    with pytest.raises(InvalidParameterError):
        check_parameter("hidden_layer_sizes", 64, constraints, "MLPClassifier")


def test_an_unknown_constraint_is_a_programming_error_not_an_invalid_parameter():
    with pytest.raises(ValueError, match="Unknown constraint") as raised:
        check_parameter("shuffle", True, ["bolean"], "MLPClassifier")
    assert not isinstance(raised.value, InvalidParameterError)


# --- validate_params --------------------------------------------------------------
def test_validate_params_checks_only_names_in_both_dicts():
    constraints = {"alpha": [Interval(Real, 0, None, closed="left")], "unset": [None]}
    validate_params(constraints, {"alpha": 0.1, "undeclared": object()}, "MLPClassifier")


def test_validate_params_raises_for_the_first_bad_name_in_the_order_of_constraints():
    constraints = {
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "alpha": [Interval(Real, 0, None, closed="left")],
    }
    params = {"alpha": -1.0, "max_iter": 0}  # alpha first here, max_iter first in the constraints
    with pytest.raises(InvalidParameterError, match="'max_iter'"):
        validate_params(constraints, params, "MLPClassifier")


def test_no_validation_skips_a_parameter_as_in_scikit_learn():
    validate_params({"callback": "no_validation"}, {"callback": object()}, "MLPClassifier")


# --- argparse ----------------------------------------------------------------------
def parser_with_batch_size():
    parser = argparse.ArgumentParser(prog="neuronet")
    parser.add_argument("--batch-size", type=argument_type([Interval(Integral, 1, None, closed="left")], convert=int))
    parser.add_argument("--learning-rate", type=argument_type([Interval(Real, 0, None, closed="neither")]))
    return parser


def test_argument_type_converts_valid_text():
    args = parser_with_batch_size().parse_args(["--batch-size", "32", "--learning-rate", "1e-3"])
    assert args.batch_size == 32 and type(args.batch_size) is int
    assert args.learning_rate == 0.001


@pytest.mark.parametrize("argv, expected", [
    (["--batch-size", "0"], "argument --batch-size: must be an int in the range [1, inf), got 0"),
    (["--batch-size", "2.5"], "argument --batch-size: must be an int in the range [1, inf), got 2.5"),
    (["--batch-size", "many"], "argument --batch-size: must be an int in the range [1, inf), got many"),
    (["--learning-rate", "nan"], "argument --learning-rate: must be a float in the range (0.0, inf), got nan"),
    (["--learning-rate", "inf"], "argument --learning-rate: must be a float in the range (0.0, inf), got inf"),
    (["--learning-rate", "-1"], "argument --learning-rate: must be a float in the range (0.0, inf), got -1"),
])
def test_a_parser_exits_with_status_2_and_says_why_on_stderr(argv, expected, capsys):
    with pytest.raises(SystemExit) as exited:
        parser_with_batch_size().parse_args(argv)
    assert exited.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert f"neuronet: error: {expected}" in err


def test_argument_type_raises_argument_type_error_and_quotes_blank_text():
    parse = argument_type([StrOptions({"adam", "sgd"})], convert=str, name="solver")
    assert parse("adam") == "adam"
    assert parse.__name__ == "solver"
    with pytest.raises(argparse.ArgumentTypeError, match=r"^must be a str among \{'adam', 'sgd'\}, got lbfgs$"):
        parse("lbfgs")
    with pytest.raises(argparse.ArgumentTypeError, match=r"got ''$"):
        parse("")


# --- the module itself --------------------------------------------------------------
def test_the_module_imports_only_the_standard_library_and_numpy():
    tree = ast.parse(MODULE.read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported - set(sys.stdlib_module_names) == {"numpy"}


def test_the_module_loads_without_scikit_learn_or_the_rest_of_neuronet():
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('validation', {str(MODULE)!r})\n"
        "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
        "assert not any(name.split('.')[0] in ('sklearn', 'scipy', 'neuronet') for name in sys.modules), sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_docstring_examples_run():
    failed, attempted = doctest.testmod(validation)
    assert attempted > 0 and failed == 0
