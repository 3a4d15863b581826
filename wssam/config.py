"""Typed stage configuration read from ``params.yaml``.

Each stage owns one frozen dataclass (declared in the module that uses it). :func:`load_section` reads the
stage's section of ``params.yaml`` and builds that dataclass, recursing into nested dataclasses. It rejects an
unknown key, a missing key, a value of the wrong type, or a value outside the range declared in the field's
metadata, with an :class:`~wssam.io.InputError` that names the full key (``train.lr``), before any heavy work.

Range checks are declared on the field::

    lr: float = field(default=1e-4, metadata=bounds(gt=0))
    labeler: str = field(default="random_walker", metadata=choices("random_walker", "sam"))
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from wssam.io import InputError

T = TypeVar("T")


def bounds(
    *, ge: float | None = None, gt: float | None = None, le: float | None = None, lt: float | None = None
) -> dict[str, Any]:
    """Field metadata: the numeric value (or each item of a list) must satisfy the given bounds."""
    return {"bounds": {"ge": ge, "gt": gt, "le": le, "lt": lt}}


def choices(*allowed: Any) -> dict[str, Any]:
    """Field metadata: the value (or each item of a list) must be one of ``allowed``."""
    return {"choices": tuple(allowed)}


def read_params(path: str | os.PathLike[str] = "params.yaml") -> dict[str, Any]:
    """Read the whole params file as a mapping; a missing or malformed file is an InputError."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: parameter file not found; run from the project root or pass --params")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as error:
        raise InputError(f"{path}: not valid YAML ({error})") from error
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a mapping of sections at the top level")
    return data


def load_section(cls: type[T], section: str, path: str | os.PathLike[str] = "params.yaml") -> T:
    """Build ``cls`` from the section ``section`` of the params file at ``path``."""
    params = read_params(path)
    if section not in params:
        raise InputError(f"{path}: section '{section}' is missing")
    return from_mapping(cls, params[section], section)


def from_mapping(cls: type[T], mapping: Any, prefix: str) -> T:
    """Build the dataclass ``cls`` from ``mapping``, checking keys, types and ranges; errors name ``prefix.key``."""
    if not isinstance(mapping, dict):
        raise InputError(f"parameter '{prefix}' must be a mapping, got {type(mapping).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(mapping) - set(fields))
    if unknown:
        raise InputError(
            f"unknown parameter '{prefix}.{unknown[0]}'; known keys of '{prefix}': {', '.join(sorted(fields))}"
        )
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for name, field in fields.items():
        key = f"{prefix}.{name}"
        if name not in mapping:
            if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                raise InputError(f"parameter '{key}' is missing; add it to params.yaml")
            continue
        value = _convert(hints[name], mapping[name], key)
        _check_metadata(field.metadata, value, key)
        values[name] = value
    return cls(**values)


def _convert(hint: Any, value: Any, key: str) -> Any:
    """Check ``value`` against the type ``hint`` and convert where safe (int -> float, list -> tuple)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _convert(option, value, key)
            except InputError as error:
                errors.append(str(error))
        raise InputError(errors[0])
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise InputError(f"parameter '{key}' must be a list, got {value!r}")
        item_hint = args[0] if args else Any
        items = [_convert(item_hint, item, f"{key}[{i}]") for i, item in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if dataclasses.is_dataclass(hint):
        return from_mapping(hint, value, key)
    if hint is Any:
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(f"parameter '{key}' must be a number, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"parameter '{key}' must be an integer, got {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise InputError(f"parameter '{key}' must be true or false, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise InputError(f"parameter '{key}' must be a string, got {value!r}")
        return value
    raise TypeError(f"unsupported parameter type {hint!r} for '{key}'")


def _check_metadata(metadata: Any, value: Any, key: str) -> None:
    is_list = isinstance(value, (list, tuple))
    items = value if is_list else [value]
    allowed = metadata.get("choices")
    limits = metadata.get("bounds")
    for index, item in enumerate(items):
        key = f"{key.split('[')[0]}[{index}]" if is_list else key
        if item is None:
            continue
        if allowed is not None and item not in allowed:
            raise InputError(
                f"parameter '{key}' = {item!r} is not allowed; choose one of: {', '.join(map(str, allowed))}"
            )
        if limits is not None:
            _check_bounds(limits, item, key)


def _check_bounds(limits: dict[str, float | None], value: float, key: str) -> None:
    tests = {
        "ge": (lambda v, b: v >= b, ">="),
        "gt": (lambda v, b: v > b, ">"),
        "le": (lambda v, b: v <= b, "<="),
        "lt": (lambda v, b: v < b, "<"),
    }
    for name, bound in limits.items():
        if bound is None:
            continue
        passes, symbol = tests[name]
        if not passes(value, bound):
            raise InputError(f"parameter '{key}' = {value!r} is out of range; it must be {symbol} {bound}")
