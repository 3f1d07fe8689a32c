"""The RL algorithms of ``instructkit rlhf``: one module each, found by scanning this package.

A module ``NAME.py`` defines an :class:`~instructkit.train.algos.base.Algorithm` subclass decorated
with :func:`register`: its Params (a subclass of :class:`~instructkit.train.rlhf.RLHFParams`), the
record kinds it accepts, its reward and reference rules, its rows, its trainer and its summary keys.
Adding an algorithm is one new file here plus its test; the stage and the CLI need no edit. Modules
whose name starts with ``_`` hold shared code and are not scanned.
"""

from __future__ import annotations

import importlib
import pkgutil

from instructkit.errors import ConfigError

_ALGOS: dict[str, type] = {}
_scanned = False


def register(cls: type) -> type:
    """Class decorator: make ``cls`` (an Algorithm with a ``name``) available as ``--algo NAME``."""
    if cls.name in _ALGOS and _ALGOS[cls.name] is not cls:
        raise ValueError(f"algorithm {cls.name!r} is registered twice")
    _ALGOS[cls.name] = cls
    return cls


def _scan() -> None:
    global _scanned
    if not _scanned:
        for module in pkgutil.iter_modules(__path__):
            if not module.name.startswith("_") and module.name != "base":
                importlib.import_module(f"{__name__}.{module.name}")
        _scanned = True


def names() -> list[str]:
    """Every registered algorithm name, sorted."""
    _scan()
    return sorted(_ALGOS)


def lookup(name: str):
    """A fresh instance of the algorithm registered as ``name``; a ConfigError lists the valid names."""
    _scan()
    if name not in _ALGOS:
        raise ConfigError(f"unknown --algo {name!r}", hint=f"use one of {', '.join(names())}")
    return _ALGOS[name]()
