"""Typed, validated stage configuration: ``params.yaml`` is the one recipe, and this module is its one door.

Each stage's configuration is a frozen pydantic model declared in ``wssam/<stage>/config.py`` (the network's in
``wssam/models/config.py``), subclassing :class:`Config`. A model has no default for anything ``params.yaml`` sets:
a key deleted from ``params.yaml`` is an error, not a silent fallback. Validation runs on construction, so a config
built in code, read from YAML or rebuilt from a checkpoint is checked the same way: unknown keys, missing keys,
wrong types, ranges (``Field(ge=...)``), choices (``Literal``) and cross-field rules (``model_validator``).

:func:`load_section` reads one section of a params file and turns every validation failure into one
:class:`~wssam.io.InputError` line that names the full key, e.g.::

    parameter 'train.model.width' = 4 is invalid: Input should be greater than or equal to 8
    parameter 'score.tau' is missing; add it to params.yaml
    unknown parameter 'score.taux'; known keys of 'score': keep_fraction, selection, tau

Numbers written in YAML's exponent form without a dot (``lr: 1e-3``, which YAML 1.1 reads as a string) are
accepted as numbers, since pydantic converts numeric strings for number fields.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal, Self, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from wssam.io import InputError

C = TypeVar("C", bound="Config")

#: where a stage computes: ``auto`` = CUDA when there is a GPU, else the CPU
Device = Literal["auto", "cpu", "cuda"]
#: arithmetic of the heavy forward passes: ``auto`` = bf16 autocast where bf16 is native (CUDA, or a CPU with
#: AVX512-BF16/AMX), fp32 elsewhere (emulated bf16 is many times slower); ``bf16`` forces autocast; ``fp32``
Precision = Literal["auto", "bf16", "fp32"]


def _fits_a_quoted_argument(path: str) -> str:
    """dvc.yaml hands the path to a stage between single quotes: spaces are fine, a quote or a line break is not."""
    if "'" in path or any(character in path for character in "\n\r\0"):
        raise ValueError("a path dvc.yaml hands to a stage's command line may not hold a quote or a line break")
    return path


#: a path that dvc.yaml puts into a stage's command (quoted there, so it may hold spaces)
CommandPath = Annotated[str, Field(min_length=1), AfterValidator(_fits_a_quoted_argument)]


class Config(BaseModel):
    """Base of every stage config: frozen, unknown keys forbidden, validated on construction and on :meth:`replace`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` applied and validated again (pydantic's ``model_copy`` does not validate)."""
        return type(self).model_validate({**self.model_dump(), **changes})

    def to_dict(self) -> dict[str, Any]:
        """Plain Python values (tuples as lists), safe for JSON, YAML and ``torch.load(weights_only=True)``."""
        return self.model_dump(mode="json")


def read_params(path: str | os.PathLike[str]) -> dict[str, Any]:
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


def load_section(cls: type[C], section: str, path: str | os.PathLike[str]) -> C:
    """Build ``cls`` from the section ``section`` of the params file at ``path``; errors name ``section.key``."""
    params = read_params(path)
    if section not in params:
        raise InputError(f"{path}: section '{section}' is missing")
    return build_config(cls, params[section], section)


def build_config(cls: type[C], mapping: Any, prefix: str) -> C:
    """Validate ``mapping`` as ``cls``; a failure is an InputError naming ``prefix.key`` (the first problem)."""
    if not isinstance(mapping, dict):
        raise InputError(f"parameter '{prefix}' must be a mapping of keys, got {mapping!r}")
    try:
        return cls.model_validate(mapping)
    except ValidationError as error:
        raise InputError(describe_error(error, cls, mapping, prefix)) from None


def describe_error(error: ValidationError, cls: type[BaseModel], mapping: dict[str, Any], prefix: str) -> str:
    """One line for the first problem in ``error``, naming the full key (``prefix.a.b`` or ``prefix.a[1]``)."""
    first = error.errors()[0]
    location = [part for part in first["loc"] if not _is_union_tag(part)]
    key = _key(prefix, location)
    kind = first["type"]
    if kind == "missing":
        return f"parameter '{key}' is missing; add it to params.yaml"
    if kind == "extra_forbidden":
        parent = _key(prefix, location[:-1])
        known = ", ".join(sorted(_model_at(cls, location[:-1]).model_fields))
        return f"unknown parameter '{key}'; known keys of '{parent}': {known}"
    value = _value_at(mapping, location)
    message = first["msg"].removeprefix("Value error, ")
    if value is _ABSENT or location == []:
        return f"parameter '{key}' is invalid: {message}"
    return f"parameter '{key}' = {value!r} is invalid: {message}"


_ABSENT = object()


def _is_union_tag(part: Any) -> bool:
    """pydantic adds the member type's name (``'float'``, ``'function-after[...]'``) to locations inside unions."""
    return isinstance(part, str) and ("[" in part or part in {"float", "int", "str", "bool"})


def _key(prefix: str, location: list[Any]) -> str:
    key = prefix
    for part in location:
        key += f"[{part}]" if isinstance(part, int) else f".{part}"
    return key


def _model_at(cls: type[BaseModel], location: list[Any]) -> type[BaseModel]:
    """The nested model class at ``location`` (a path of field names) inside ``cls``."""
    for part in location:
        annotation = cls.model_fields[part].annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            cls = annotation
    return cls


def _value_at(mapping: Any, location: list[Any]) -> Any:
    for part in location:
        try:
            mapping = mapping[part]
        except (KeyError, IndexError, TypeError):
            return _ABSENT
    return mapping
