"""Typed, frozen-dataclass configuration sections read from plain dicts (``config.yaml``, JSON).

One implementation of what every config section does (:class:`depsev.models.ModelConfig`,
:class:`depsev.train.TrainConfig`):

- :func:`dataclass_from_dict` -- defaults (or a ``base`` instance) overridden by a dict; unknown keys
  and wrongly typed values raise :class:`~depsev.errors.InputError` naming the source (the file, or
  ``"command line"``) and the section;
- :func:`dataclass_to_dict` -- the plain, JSON-friendly dict back (tuples as lists), so that
  ``dataclass_from_dict(cls, dataclass_to_dict(cfg)) == cfg``;
- :func:`raise_problems` -- the range check of ``__post_init__`` turned into one InputError.

Coercion follows each field's annotation: ``bool`` accepts only ``true`` / ``false``; ``int`` accepts
integers; ``float`` accepts integers and floats (stored as float); ``str`` accepts strings; a
fixed-length ``tuple[...]`` accepts a list or tuple of that many items, each coerced by its own
annotation.  A bool is never accepted as a number (YAML's ``yes`` would otherwise become 1).
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from depsev.errors import InputError

T = TypeVar("T")

#: how the error message names what each annotation accepts
_EXPECTED = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def dataclass_from_dict(cls: type[T], d: Mapping[str, Any] | None, source: str | Path | None = None,
                        section: str = "config", base: T | None = None) -> T:
    """``base`` (default: the dataclass defaults) overridden by the typed values of ``d``.

    ``section`` starts every message (e.g. ``"train config"``).  Raises
    :class:`~depsev.errors.InputError` naming ``source`` for unknown keys (listing the known ones),
    values of the wrong type, and range problems found by the dataclass' own ``__post_init__``
    (which raises InputError without a path; the path is added here).
    """
    d = dict(d or {})
    known = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    unknown = sorted(set(d) - set(known))
    if unknown:
        raise InputError(source, f"{section}: unknown key(s) {unknown}; known keys: {sorted(known)}")
    hints = typing.get_type_hints(cls)
    values = {name: getattr(base, name) for name in known} if base is not None else {}
    for name, value in d.items():
        values[name] = coerce(value, hints[name], name, source, section)
    try:
        return cls(**values)
    except InputError as err:
        raise InputError(source, err.problem) from None


def coerce(value: Any, typ: Any, name: str, source: str | Path | None = None,
           section: str = "config") -> Any:
    """``value`` as annotation ``typ`` (bool, int, float, str, or a fixed-length tuple of them)."""
    expected, ok = _describe(typ), _accepts(value, typ)
    if not ok:
        raise InputError(source, f"{section}: {name} must be {expected}, got {value!r}")
    return _convert(value, typ)


def _accepts(value: Any, typ: Any) -> bool:
    if typ is bool:
        return isinstance(value, bool)
    if typ is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if typ is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if typ is str:
        return isinstance(value, str)
    items = _tuple_items(typ)
    return (isinstance(value, Sequence) and not isinstance(value, str) and len(value) == len(items)
            and all(_accepts(v, t) for v, t in zip(value, items, strict=True)))


def _convert(value: Any, typ: Any) -> Any:
    if typ is float:
        return float(value)
    if typ in _EXPECTED:
        return value
    return tuple(_convert(v, t) for v, t in zip(value, _tuple_items(typ), strict=True))


def _describe(typ: Any) -> str:
    if typ in _EXPECTED:
        return _EXPECTED[typ]
    items = _tuple_items(typ)
    kinds = {_describe(t) for t in items}
    if kinds <= {"a number", "an integer"}:
        what = "integers" if kinds == {"an integer"} else "numbers"
    else:
        what = "values (" + ", ".join(_describe(t) for t in items) + ")"
    return f"a list of {len(items)} {what}"


def _tuple_items(typ: Any) -> tuple[Any, ...]:
    """The item annotations of a fixed-length ``tuple[a, b, ...]``; TypeError for anything else."""
    args = typing.get_args(typ)
    if typing.get_origin(typ) is tuple and args and all(a in _EXPECTED for a in args):
        return args  # (Ellipsis is no key of _EXPECTED: tuple[float, ...] is refused)
    raise TypeError("config fields must be bool, int, float, str or a fixed-length tuple of them, "
                    f"got {typ!r}")


def dataclass_to_dict(cfg: Any) -> dict[str, Any]:
    """Plain dict of every field, tuples as lists (JSON- and YAML-friendly)."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg).items()}


def raise_problems(section: str, problems: Sequence[str]) -> None:
    """One InputError (no path) ``"<section>: p1; p2"`` when ``problems`` is not empty."""
    if problems:
        raise InputError(None, f"{section}: " + "; ".join(problems))
