"""Parameter validation in scikit-learn's vocabulary, for estimators, optimizers, training and the CLI.

A parameter is declared valid by a *list of constraints*; a value is valid when it
satisfies at least one of them. The constraints are those of scikit-learn's
``_parameter_constraints`` (this module is neuronet's own small implementation; it
imports only the standard library and NumPy, and it is the lowest floor of the package):

- ``Interval(Integral, 1, None, closed="left")``: an int in ``[1, inf)``;
  ``Interval(Real, 0, 1, closed="neither")``: a float in ``(0.0, 1.0)``.
- ``StrOptions({"adam", "sgd"})``: one of these strings.
- ``Options(Real, {0.5, 1.0})``: one of a fixed set of non-string values.
- ``None``: the value ``None`` is allowed.
- ``"boolean"``: ``bool`` or ``numpy.bool_``.
- ``"array-like"``: anything with a length, a shape or ``__array__``, but not a scalar or a str.
- ``"random_state"``: ``None``, an int in ``[0, 2**32 - 1]``, a ``numpy.random.RandomState``
  or a ``numpy.random.Generator``.
- ``callable`` (the built-in): any callable.
- a class, such as ``tuple``, ``list`` or ``dict``: any instance of it.

An estimator declares its constraints once, as a class attribute, and checks them in ``fit``
(``validate_params`` skips the names that it has no value for, and values it has no constraint for):

>>> from numbers import Integral, Real
>>> class MLPClassifier:
...     _parameter_constraints = {
...         "hidden_layer_sizes": [tuple, list],
...         "solver": [StrOptions({"adam", "sgd"})],
...         "alpha": [Interval(Real, 0, None, closed="left")],
...         "batch_size": [Interval(Integral, 1, None, closed="left"), None],
...         "shuffle": ["boolean"],
...         "random_state": ["random_state"],
...     }
...     def __init__(self, hidden_layer_sizes=(100,), solver="adam", alpha=1e-4, batch_size=None,
...                  shuffle=True, random_state=None):
...         self.hidden_layer_sizes, self.solver, self.alpha = hidden_layer_sizes, solver, alpha
...         self.batch_size, self.shuffle, self.random_state = batch_size, shuffle, random_state
...     def fit(self, X, y):
...         validate_params(self._parameter_constraints, vars(self), type(self).__name__)
...         return self
>>> clf = MLPClassifier(batch_size=32, random_state=0).fit(None, None)
>>> MLPClassifier(batch_size=0).fit(None, None)
Traceback (most recent call last):
    ...
neuronet.validation.InvalidParameterError: The 'batch_size' parameter of MLPClassifier must be an int in the range [1, inf) or None. Got 0 instead.

Messages are scikit-learn's, word for word, with these differences on purpose:

- a boolean never satisfies a numeric ``Interval`` or ``Options`` (``True`` is not a batch size),
  and ``True`` is not a ``"random_state"`` seed either;
- NaN never satisfies an ``Interval``;
- infinities never satisfy an ``Interval``: an unbounded end (``None``) is open at ``±inf``
  whatever ``closed`` says, and is written open (``inf)``) in the description;
- ``"random_state"`` also accepts a ``numpy.random.Generator``;
- the options of ``StrOptions`` and ``Options`` are listed sorted, and the article agrees with
  the type ("an int among {1, 2}", where scikit-learn writes "a int").
"""

import argparse
import math
from numbers import Integral, Number, Real

import numpy as np

__all__ = ["InvalidParameterError", "Interval", "StrOptions", "Options", "DtypeOptions", "Sizes", "validate_params",
           "check_parameter", "argument_type"]


_builtin_type = type  # Interval's and Options' parameter is called ``type``, as in scikit-learn


class InvalidParameterError(ValueError, TypeError):
    """A parameter has a value it cannot take (a ValueError and a TypeError, as scikit-learn's is)."""


def first_few(items, count=10):
    """The first ``count`` items, joined for a message: "a, b, c" or "a, b … and 5 more"."""
    items = [str(item) for item in items]
    return ", ".join(items[:count]) + (f" and {len(items) - count} more" if len(items) > count else "")


def _is_bool(value):
    return isinstance(value, (bool, np.bool_))


def _type_name(cls):
    """'float' for numbers.Real, 'int' for numbers.Integral, 'tuple' for a built-in, 'module.Name' otherwise."""
    if cls is Real:
        return "float"
    if cls is Integral:
        return "int"
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


def _join(descriptions):
    """scikit-learn's joining: 'A', 'A or B', 'A, B or C'."""
    descriptions = [str(d) for d in descriptions]
    if not descriptions:
        raise ValueError("A parameter needs at least one constraint; use 'no_validation' to skip it.")
    if len(descriptions) == 1:
        return descriptions[0]
    return f"{', '.join(descriptions[:-1])} or {descriptions[-1]}"


class _Constraint:
    """A set of allowed values that can say whether a value belongs and describe itself."""

    def is_satisfied_by(self, value):  # pragma: no cover - every constraint overrides it
        raise NotImplementedError

    def __str__(self):  # pragma: no cover
        raise NotImplementedError


class Interval(_Constraint):
    """The ints (``numbers.Integral``) or the reals (``numbers.Real``) between two bounds.

    ``left`` and ``right`` are the bounds, ``None`` for an unbounded end; ``closed`` is which
    finite ends belong: ``"left"`` is ``[left, right)``, ``"right"`` is ``(left, right]``,
    ``"both"`` is ``[left, right]`` and ``"neither"`` is ``(left, right)``.

    - ``Interval(Integral, ...)`` accepts Python and NumPy integers, not floats (``2.0`` is refused).
    - ``Interval(Real, ...)`` accepts Python and NumPy ints and floats.
    - Booleans are refused by both, and so is NaN.
    - An unbounded end is open at ``±inf`` whatever ``closed`` says, so ``inf`` and ``-inf`` are
      refused by every Interval (unlike scikit-learn, where ``closed="both"`` with ``None``
      admits them).

    >>> from numbers import Integral, Real
    >>> str(Interval(Integral, 1, None, closed="left"))
    'an int in the range [1, inf)'
    >>> str(Interval(Real, 0, 1, closed="neither"))
    'a float in the range (0.0, 1.0)'
    >>> Interval(Real, 0, None, closed="both").is_satisfied_by(float("inf"))
    False
    """

    def __init__(self, type, left, right, *, closed):
        if type not in (Integral, Real):
            raise ValueError(f"type must be either numbers.Integral or numbers.Real. Got {type!r} instead.")
        if closed not in ("left", "right", "both", "neither"):
            raise ValueError(f"closed must be either 'left', 'right', 'both' or 'neither'. Got {closed!r} instead.")
        for side, bound in (("left", left), ("right", right)):
            if bound is None:
                continue
            if _is_bool(bound) or not isinstance(bound, type):
                kind = "an int for an interval over the integers" if type is Integral else "a real number"
                raise TypeError(f"Expecting {side} to be {kind}. Got {bound!r} instead.")
            if not isinstance(bound, Integral) and not math.isfinite(bound):
                raise ValueError(f"{side} must be finite; use None for an unbounded end. Got {bound!r} instead.")
        if left is not None and right is not None and right <= left:
            raise ValueError(f"right can't be less than left. Got left={left} and right={right}")
        self.type = type
        self.left = left
        self.right = right
        self.closed = closed

    def __contains__(self, value):
        if not isinstance(value, Integral):
            try:
                if math.isnan(value) or math.isinf(value):
                    return False
            except OverflowError:  # an exact rational too large for a float: finite
                pass
        if self.left is not None:
            if value < self.left or (value == self.left and self.closed not in ("left", "both")):
                return False
        if self.right is not None:
            if value > self.right or (value == self.right and self.closed not in ("right", "both")):
                return False
        return True

    def is_satisfied_by(self, value):
        if _is_bool(value) or not isinstance(value, self.type):
            return False
        return value in self

    def __str__(self):
        kind = "an int" if self.type is Integral else "a float"
        bound = (lambda b: b) if self.type is Integral else float
        left_bracket = "[" if self.left is not None and self.closed in ("left", "both") else "("
        right_bracket = "]" if self.right is not None and self.closed in ("right", "both") else ")"
        left = "-inf" if self.left is None else bound(self.left)
        right = "inf" if self.right is None else bound(self.right)
        return f"{kind} in the range {left_bracket}{left}, {right}{right_bracket}"

    def __repr__(self):
        return f"Interval({self.type.__name__}, {self.left!r}, {self.right!r}, closed={self.closed!r})"


class Options(_Constraint):
    """A fixed set of values of one type: ``Options(Real, {0.5, 1.0})``.

    A boolean is never one of numeric options (``True == 1``, but ``True`` is not ``1`` here).

    >>> from numbers import Real
    >>> str(Options(Real, {1.0, 0.5}))
    'a float among {0.5, 1.0}'
    """

    def __init__(self, type, options):
        if not isinstance(type, _builtin_type):
            raise TypeError(f"type must be a class. Got {type!r} instead.")
        options = frozenset(options)
        wrong = [option for option in options if not isinstance(option, type)]
        if wrong:
            raise TypeError(f"The options must be instances of {_type_name(type)}. Got {wrong[0]!r}.")
        self.type = type
        self.options = options

    def is_satisfied_by(self, value):
        if _is_bool(value) and issubclass(self.type, Number) and self.type not in (bool, np.bool_):
            return False
        try:
            return isinstance(value, self.type) and value in self.options
        except TypeError:  # unhashable
            return False

    def _sorted(self):
        try:
            return sorted(self.options)
        except TypeError:
            return sorted(self.options, key=repr)

    def __str__(self):
        name = _type_name(self.type)
        article = "an" if name[:1].lower() in "aeiou" else "a"
        return f"{article} {name} among {{{', '.join(repr(option) for option in self._sorted())}}}"

    def __repr__(self):
        return f"Options({self.type.__name__}, {{{', '.join(repr(option) for option in self._sorted())}}})"


class StrOptions(Options):
    """A fixed set of strings: ``StrOptions({"adam", "sgd"})``, described sorted.

    >>> str(StrOptions({"sgd", "adam"}))
    "a str among {'adam', 'sgd'}"
    """

    def __init__(self, options):
        super().__init__(str, options)

    def __repr__(self):
        return f"StrOptions({{{', '.join(repr(option) for option in self._sorted())}}})"


class DtypeOptions(_Constraint):
    """Data types by name, given in any form NumPy reads: ``"float32"``, ``np.float32``,
    ``np.dtype("f4")``.

    >>> str(DtypeOptions({"float64", "float32"}))
    "a dtype among {'float32', 'float64'}"
    >>> DtypeOptions({"float32"}).is_satisfied_by("f4")
    True
    """

    def __init__(self, names):
        self.names = frozenset(names)

    def is_satisfied_by(self, value):
        if value is None:  # np.dtype(None) is float64, but None names no dtype
            return False
        try:
            return np.dtype(value).name in self.names
        except TypeError:
            return False

    def __str__(self):
        return f"a dtype among {{{', '.join(repr(name) for name in sorted(self.names))}}}"


class Sizes(_Constraint):
    """Layer sizes: a tuple or list of positive ints, e.g. ``(128, 64)``.

    >>> str(Sizes(allow_empty=False))
    'a non-empty tuple of positive ints'
    """

    def __init__(self, allow_empty=True):
        self.allow_empty = allow_empty

    def is_satisfied_by(self, value):
        return (isinstance(value, (tuple, list)) and (self.allow_empty or len(value) > 0)
                and all(isinstance(size, Integral) and not _is_bool(size) and size >= 1 for size in value))

    def __str__(self):
        return "a tuple of positive ints" if self.allow_empty else "a non-empty tuple of positive ints"


class _InstancesOf(_Constraint):
    def __init__(self, cls):
        self.type = cls

    def is_satisfied_by(self, value):
        return isinstance(value, self.type)

    def __str__(self):
        return f"an instance of {_type_name(self.type)!r}"


class _Named(_Constraint):
    """A constraint with a fixed test and description: None, callable, array-like."""

    def __init__(self, test, description):
        self._test = test
        self._description = description

    def is_satisfied_by(self, value):
        return self._test(value)

    def __str__(self):
        return self._description


class _AnyOf(_Constraint):
    """Shorthand for a list of constraints: "boolean" and "random_state"."""

    def __init__(self, constraints):
        self._constraints = constraints

    def is_satisfied_by(self, value):
        return any(constraint.is_satisfied_by(value) for constraint in self._constraints)

    def __str__(self):
        return _join(self._constraints)


def _is_array_like(value):
    """scikit-learn's array-like: has a length, a shape or __array__, and is not a scalar (nor a str)."""
    return ((hasattr(value, "__len__") or hasattr(value, "shape") or hasattr(value, "__array__"))
            and not np.isscalar(value))


class _PublicName(_InstancesOf):
    """Instances of a class, described by the public name rather than the defining module."""

    def __init__(self, cls, name):
        super().__init__(cls)
        self._name = name

    def __str__(self):
        return f"an instance of {self._name!r}"


_NONE = _Named(lambda value: value is None, "None")
_CALLABLE = _Named(callable, "a callable")
_ARRAY_LIKE = _Named(_is_array_like, "an array-like")
_BOOLEAN = _AnyOf([_InstancesOf(bool), _InstancesOf(np.bool_)])
_RANDOM_STATE = _AnyOf([
    Interval(Integral, 0, 2**32 - 1, closed="both"),
    _PublicName(np.random.RandomState, "numpy.random.RandomState"),
    _PublicName(np.random.Generator, "numpy.random.Generator"),
    _NONE,
])
_NAMED = {"boolean": _BOOLEAN, "array-like": _ARRAY_LIKE, "random_state": _RANDOM_STATE}


def _make_constraint(constraint):
    """The constraint object that a list entry stands for; ValueError for anything unknown."""
    if isinstance(constraint, _Constraint):
        return constraint
    if constraint is None:
        return _NONE
    if constraint is callable:
        return _CALLABLE
    if isinstance(constraint, str) and constraint in _NAMED:
        return _NAMED[constraint]
    if isinstance(constraint, _builtin_type):
        return _InstancesOf(constraint)
    raise ValueError(f"Unknown constraint type: {constraint!r}")


def check_parameter(name, value, constraints, owner):
    """Raise InvalidParameterError unless ``value`` satisfies one of ``constraints``.

    >>> from numbers import Real
    >>> check_parameter("alpha", -1, [Interval(Real, 0, None, closed="left")], "MLPClassifier")
    Traceback (most recent call last):
        ...
    neuronet.validation.InvalidParameterError: The 'alpha' parameter of MLPClassifier must be a float in the range [0.0, inf). Got -1 instead.
    """
    constraints = [_make_constraint(constraint) for constraint in constraints]
    if not any(constraint.is_satisfied_by(value) for constraint in constraints):
        raise InvalidParameterError(
            f"The {name!r} parameter of {owner} must be {_join(constraints)}. Got {value!r} instead.")


def validate_params(constraints, params, owner):
    """Check each parameter named in both ``constraints`` and ``params``, in the order of ``constraints``.

    ``constraints`` maps a name to a list of constraints (or to ``"no_validation"``, which skips
    it); ``params`` maps a name to its value; ``owner`` names the estimator, optimizer or function
    in the message. Raises InvalidParameterError for the first invalid value.
    """
    for name, allowed in constraints.items():
        if name not in params or (isinstance(allowed, str) and allowed == "no_validation"):
            continue
        check_parameter(name, params[name], allowed, owner)


def argument_type(constraints, convert=float, name=None):
    """A function for argparse's ``type=``: converts the text with ``convert``, then validates it.

    Text that does not convert, or converts to a value no constraint accepts, raises
    ``argparse.ArgumentTypeError("must be <description>, got <text>")``, which argparse prints
    as ``argument --batch-size: must be an int in the range [1, inf), got 0`` and exits with
    status 2. ``name`` (default: the name of ``convert``) is the function's ``__name__``.

    >>> from numbers import Integral
    >>> batch_size = argument_type([Interval(Integral, 1, None, closed="left")], convert=int)
    >>> batch_size("32")
    32
    >>> batch_size("0")
    Traceback (most recent call last):
        ...
    argparse.ArgumentTypeError: must be an int in the range [1, inf), got 0
    """
    constraints = [_make_constraint(constraint) for constraint in constraints]
    description = _join(constraints)

    def parse(text):
        shown = text if isinstance(text, str) and text and text.strip() == text else repr(text)
        try:
            value = convert(text)
        except (ValueError, TypeError, ArithmeticError):
            raise argparse.ArgumentTypeError(f"must be {description}, got {shown}") from None
        if not any(constraint.is_satisfied_by(value) for constraint in constraints):
            raise argparse.ArgumentTypeError(f"must be {description}, got {shown}")
        return value

    parse.__name__ = parse.__qualname__ = name or getattr(convert, "__name__", "value")
    parse.__doc__ = f"Text to {parse.__name__}: {description}."
    return parse
