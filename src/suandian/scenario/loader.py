"""Load a park scenario from YAML: a bundled name (``xining``, ``national``) or a file path.

Validation problems become one :class:`~suandian.core.errors.ScenarioError` that lists every
problem with its field path, the value seen, and the allowed range with its unit.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from suandian.core.errors import FieldProblem, NotFound, ScenarioError
from suandian.core.units import unit_of
from suandian.scenario.model import FieldPathError, Park

__all__ = ["bundled_scenarios", "load_scenario", "parse_scenario", "scenario_from_yaml"]

_BUNDLED = "suandian.scenario.data"


def bundled_scenarios() -> list[str]:
    """Names of the scenarios shipped with suandian."""
    return sorted(
        Path(p.name).stem for p in resources.files(_BUNDLED).iterdir() if p.name.endswith(".yaml")
    )


def load_scenario(name_or_path: str | Path) -> Park:
    """Load a bundled scenario by name, or a YAML file by path."""
    text = str(name_or_path)
    if isinstance(name_or_path, str) and text in bundled_scenarios():
        source = resources.files(_BUNDLED).joinpath(f"{text}.yaml")
        return scenario_from_yaml(source.read_text(encoding="utf-8"), source=f"{text} (bundled)")
    path = Path(name_or_path)
    if not path.is_file():
        raise NotFound(
            f"scenario {text!r} is neither a bundled scenario ({', '.join(bundled_scenarios())}) "
            "nor a readable file; give one of those names or the path to a YAML file"
        )
    return scenario_from_yaml(path.read_text(encoding="utf-8"), source=str(path))


class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe YAML loader that refuses a key given twice in one mapping (YAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"key {key!r} appears twice in one mapping; keep only one",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def scenario_from_yaml(text: str, *, source: str = "<string>") -> Park:
    """Parse and validate scenario YAML."""
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "somewhere"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(
            source,
            [FieldProblem("<yaml>", f"not valid YAML at {where}: {problem}; fix the syntax there")],
        ) from None
    if data is None:
        raise ScenarioError(
            source,
            [FieldProblem("<root>", "the file is empty; a scenario needs at least name and sites")],
        )
    if not isinstance(data, dict):
        raise ScenarioError(
            source,
            [
                FieldProblem(
                    "<root>",
                    "a scenario is a YAML mapping with keys such as name, sites, pv_plants",
                    type(data).__name__,
                )
            ],
        )
    return parse_scenario(data, source=source)


def parse_scenario(data: dict[str, Any], *, source: str = "<dict>") -> Park:
    """Validate a scenario given as a plain mapping."""
    try:
        return Park.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(source, [p for e in exc.errors() for p in _problems(e)]) from None


# --- turning pydantic's errors into field problems ----------------------------------------------


def _path(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "<park>"


def _model_at(loc: Sequence[int | str]) -> type[BaseModel] | None:
    """The pydantic model class that holds the field at ``loc[-1]``, if it can be found."""
    model: Any = Park
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        field = model.model_fields.get(part)
        if field is None:
            return None
        model = _inner_model(field.annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _inner_model(annotation: Any) -> Any:
    """The model class inside ``list[X]``, ``X | None`` or ``Annotated[X, ...]``."""
    origin = typing.get_origin(annotation)
    if origin is None:
        return annotation
    for arg in typing.get_args(annotation):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
        inner = _inner_model(arg) if typing.get_origin(arg) in (list, types.UnionType) else None
        if inner is not None and isinstance(inner, type) and issubclass(inner, BaseModel):
            return inner
    return annotation


_BOUND_WORDS = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}


def _problems(err: ErrorDetails) -> list[FieldProblem]:
    cause = (err.get("ctx") or {}).get("error")
    if isinstance(cause, FieldPathError):
        base = _path(err["loc"])

        def joined(path: str) -> str:
            if base == "<park>":
                return path
            return base + (path if path.startswith("[") else "." + path)

        return [
            FieldProblem(joined(path), message, value) for path, message, value in cause.problems
        ]
    return [_problem(err)]


def _problem(err: ErrorDetails) -> FieldProblem:
    loc = err["loc"]
    path = _path(loc)
    field = next((p for p in reversed(loc) if isinstance(p, str)), "")
    unit = unit_of(field) if field else None
    unit_text = f" [{unit}]" if unit else ""
    kind = err["type"]
    ctx = err.get("ctx") or {}
    value = err.get("input")

    if kind == "extra_forbidden":
        model = _model_at(loc)
        known = sorted(model.model_fields) if model else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        allowed = f"allowed here: {', '.join(known)}" if known else "remove it"
        return FieldProblem(path, f"unknown field; {hint}{allowed}")
    if kind == "missing":
        model = _model_at(loc)
        info = model.model_fields.get(str(loc[-1])) if model else None
        what = f" ({info.description.rstrip('.')})" if info is not None and info.description else ""
        return FieldProblem(path, f"required field is missing{what}{unit_text}; add it")
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        bound_name = {"greater_than_equal": "ge", "greater_than": "gt"}.get(
            kind, {"less_than_equal": "le", "less_than": "lt"}.get(kind, "")
        )
        limit = ctx.get(bound_name)
        bounds = _bounds_text(loc)
        return FieldProblem(
            path,
            f"must be {_BOUND_WORDS[bound_name]} {limit}{unit_text}{bounds}",
            value,
        )
    if kind == "value_error":
        message = str(ctx.get("error", err["msg"]))
        return FieldProblem(path, message)
    if kind in ("float_parsing", "int_parsing", "float_type", "int_type", "int_from_float"):
        return FieldProblem(path, f"{err['msg'].lower()}{unit_text}; write a plain number", value)
    return FieldProblem(path, f"{err['msg']}{unit_text}", value)


def _bounds_text(loc: Sequence[int | str]) -> str:
    """`` (allowed a … b)`` from the field's declared bounds, when both ends are known."""
    model = _model_at(loc)
    if model is None:
        return ""
    info = model.model_fields.get(str(loc[-1]))
    if info is None:
        return ""
    low = high = ""
    for meta in info.metadata:
        for attr, word in (("ge", "≥"), ("gt", ">")):
            if getattr(meta, attr, None) is not None:
                low = f"{word} {getattr(meta, attr)}"
        for attr, word in (("le", "≤"), ("lt", "<")):
            if getattr(meta, attr, None) is not None:
                high = f"{word} {getattr(meta, attr)}"
    if not (low and high):
        return ""
    return f" (allowed: {low} and {high})"
