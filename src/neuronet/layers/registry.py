"""The layer registry: the names by which model files describe layers, each naming one class.

A saved network stores each layer as a registered name, the layer's config (its
constructor arguments, JSON-safe) and its arrays (parameters and buffers), never code;
loading looks the name up here and calls the class with the config. neuronet's own
layers are registered under their class names. A layer of one's own is registered
before it is saved, and again (by importing the module that defines it) before it is
loaded; :func:`registered_types` lists the classes for skops to trust:

>>> from neuronet import nn
>>> @nn.register_layer
... class Scale(nn.Layer):
...     '''y = x ⊙ s, one learned scale per feature.'''
"""

from __future__ import annotations

import inspect
import json

from .base import Layer

LAYERS: dict[str, type] = {}
MAX_NAME_LENGTH = 100


def register_layer(cls_or_name):
    """Register a layer class for saving and loading, under its class name or a name given.

    Usable as a decorator, bare (``@register_layer``) or with a name
    (``@register_layer("Scale")``), or called on a class (``register_layer(Scale)``).

    Parameters
    ----------
    cls_or_name : type or str
        A subclass of :class:`Layer`, or the name to register the decorated class under.

    Returns
    -------
    The class itself (or, given a name, the decorator that registers a class under it).

    Raises
    ------
    TypeError
        For something other than a subclass of :class:`Layer`, or a class whose
        constructor takes arguments that its ``get_config`` does not record (it keeps
        :meth:`Layer.get_config`, which records none).
    ValueError
        For a name that is not a string of 1 to 100 printable characters, a name taken by
        another class, or a class registered under another name. Running the same class
        definition again (a notebook cell re-run) replaces the class registered by it.
    """
    if isinstance(cls_or_name, str):
        return lambda cls: _register(cls, cls_or_name)
    return _register(cls_or_name, getattr(cls_or_name, "__name__", None))


def _register(cls, name):
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise TypeError(f"register_layer takes a subclass of neuronet.nn.Layer, not {_short(cls)}")
    if not (isinstance(name, str) and 1 <= len(name) <= MAX_NAME_LENGTH and name.isprintable()):
        raise ValueError(f"a layer's name is a string of 1 to {MAX_NAME_LENGTH} printable characters, "
                         f"not {_short(name)}")
    taken, earlier = LAYERS.get(name), registered_name(cls)
    if taken is not None and taken is not cls and not _same_definition(taken, cls):
        raise ValueError(f"the layer name {name!r} is taken by {_qualified(taken)}: register {cls.__qualname__} "
                         "under another name, e.g. @register_layer(\"My" + name + "\")")
    if earlier is not None and earlier != name:
        raise ValueError(f"{cls.__qualname__} is registered as {earlier!r} already: a class has one name")
    _check_config_method(cls)
    LAYERS[name] = cls
    return cls


def _check_config_method(cls):
    """A class whose constructor takes arguments must record them in ``get_config``: a
    file holds only the config, and the layer is made again from it."""
    arguments = [name for name, parameter in inspect.signature(cls.__init__).parameters.items()
                 if name != "self" and parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)]
    if arguments and cls.get_config is Layer.get_config:
        raise TypeError(f"{cls.__qualname__} takes ({', '.join(arguments)}) but keeps Layer.get_config, which records "
                        "none of them: define get_config returning them as a dict of JSON-safe values")


def _same_definition(old, new):
    return (old.__module__, old.__qualname__) == (new.__module__, new.__qualname__)


def registered_name(cls):
    """The name ``cls`` is registered under, or None."""
    return next((name for name, registered in LAYERS.items() if registered is cls), None)


def registered_types():
    """The registered layer classes by their full names ("neuronet.layers.dense.Dense",
    "mymodule.Scale"): what ``skops.io.load(path, trusted=...)`` is told to trust for the
    layers of a network or estimator saved with skops."""
    return sorted(_qualified(cls) for cls in LAYERS.values())


def layer_description(index, layer):
    """``{"class": name, "config": config}`` for a layer to be saved: its registered name
    and its config. A layer whose class is not registered, or whose config is not made of
    JSON values (dicts with string keys, lists, strings, finite numbers, booleans, None),
    is refused in one line (ValueError)."""
    name = registered_name(type(layer))
    if name is None:
        cls = type(layer).__name__
        raise ValueError(f"layer {index}, {cls}, is not a registered layer: decorate its class with "
                         f"@neuronet.nn.register_layer (or call neuronet.nn.register_layer({cls})) before saving, "
                         "and register it again before loading")
    config = layer.get_config()
    try:
        if not isinstance(config, dict):
            raise TypeError(f"it is a {type(config).__name__}")
        json.dumps(config, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ValueError(f"layer {index}, {name}, has a config that is not JSON-safe ({_short(error)}): get_config "
                         "returns a dict of strings, finite numbers, booleans, None, lists and dicts") from None
    return {"class": name, "config": config}


def _qualified(cls):
    return f"{cls.__module__}.{cls.__qualname__}"


def _short(value, width=60):
    text = " ".join(repr(value).split()) if not isinstance(value, Exception) else " ".join(str(value).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def as_layer(item, what):
    """A layer given as itself, or as a file describes it ({"class": name, "config": {...}}):
    how a layer that holds layers (a residual block, TimeDistributed) takes its parts."""
    if isinstance(item, Layer):
        return item
    if isinstance(item, dict) and set(item) == {"class", "config"} and isinstance(item["config"], dict):
        if item["class"] not in LAYERS:
            raise ValueError(f"{what} is of an unknown type {str(item['class'])[:40]!r}: register its class with "
                             "neuronet.nn.register_layer first")
        return LAYERS[item["class"]](**item["config"])
    raise ValueError(f"{what} is {str(item)[:60]}, not a neuronet layer")
