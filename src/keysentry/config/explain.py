"""Validation errors in words: which key, in which file or variable, what is wrong, and for a key that
does not exist, the closest one that does ("did you mean smtp_host?")."""

from __future__ import annotations

import difflib
import types
from collections.abc import Iterable, Mapping
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The models an annotation holds: ``Model``, ``Model | None``, ``list[Model]``, ``dict[str, Model]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType, list, tuple, set, frozenset, dict):
        return [m for arg in get_args(annotation) for m in _models_in(arg)]
    return []


def model_at(model: type[BaseModel], path: Iterable[str | int]) -> type[BaseModel] | None:
    """The model class that holds the last key of ``path`` (list indexes skipped), or None."""
    current: type[BaseModel] | None = model
    for part in path:
        if isinstance(part, int) or current is None:
            continue
        field = current.model_fields.get(part)
        if field is None:
            return None
        found = _models_in(field.annotation)
        current = found[0] if found else None
    return current


def keys_of(model: type[BaseModel]) -> list[str]:
    return sorted(model.model_fields)


def closest_key(key: str, valid: Iterable[str]) -> str | None:
    matches = difflib.get_close_matches(key.lower(), list(valid), n=1, cutoff=0.6)
    return matches[0] if matches else None


def dotted(path: Iterable[str | int]) -> str:
    """``("notify", "webhooks", 0, "url")`` → ``notify.webhooks[0].url``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def table(path: list[str | int]) -> str:
    """The TOML table a key is in: ``[notify.email]``, or ``[[notify.webhooks]] #2``."""
    if path and isinstance(path[-1], int):
        return f"[[{dotted(path[:-1])}]] #{path[-1] + 1}"
    return f"[{dotted(path)}]"


SECRET_WORDS = ("secret", "password", "token", "key")


def _hidden(model: type[BaseModel], path: list[str | int]) -> bool:
    """Whether a value must not be echoed: a SecretStr field, or a name that says it is secret."""
    names = [p for p in path if isinstance(p, str)]
    if any(word in name.lower() for name in names for word in SECRET_WORDS):
        return True
    holder = model_at(model, path[:-1])
    field = holder.model_fields.get(str(path[-1])) if holder is not None and path else None
    return field is not None and "SecretStr" in repr(field.annotation)


def explain(
    exc: ValidationError,
    model: type[BaseModel],
    origin_of: Mapping[str, str] | None = None,
) -> str:
    """Every error of ``exc`` on a line of its own.  ``origin_of`` names where each top-level key came
    from (``keysentry.toml``, ``KEYSENTRY_NOTIFY``): the first part of each line."""
    lines = []
    for error in exc.errors():
        path = [p for p in error["loc"] if isinstance(p, str | int)]
        where = (origin_of or {}).get(str(path[0])) if path else None
        prefix = f"{where}: " if where else ""
        key = path[-1] if path else ""
        if error["type"] == "extra_forbidden":
            holder = model_at(model, path[:-1])
            valid = keys_of(holder) if holder is not None else []
            hint = closest_key(str(key), valid)
            place = f" in {table(path[:-1])}" if path[:-1] else ""
            suggestion = (
                f"; did you mean {hint!r}?"
                if hint
                else (f"; valid keys: {', '.join(valid)}" if valid else "")
            )
            lines.append(f"{prefix}unknown setting {str(key)!r}{place}{suggestion}")
        else:
            shown = error.get("input")
            if _hidden(model, path):
                given = " (value not shown)"
            else:
                given = "" if isinstance(shown, dict | list) or shown is None else f" (got {shown!r})"
            message = error["msg"].removeprefix("Value error, ")
            lines.append(f"{prefix}{dotted(path) or 'settings'}: {message}{given}")
    return "\n".join(lines)


def unknown_environment(
    environ: Mapping[str, str], prefix: str, fields: Iterable[str], allowed: Iterable[str] = ()
) -> list[str]:
    """``prefix``-ed variables that name no setting (``allowed`` names and prefixes excepted), each with
    the closest variable that does."""
    names = {f"{prefix}{f}".upper() for f in fields}
    lines = []
    for variable in sorted(environ):
        upper = variable.upper()
        if not upper.startswith(prefix.upper()) or upper in names:
            continue
        if any(upper.startswith(a.upper()) for a in allowed):
            continue
        hint = difflib.get_close_matches(upper, sorted(names), n=1, cutoff=0.6)
        suggestion = f"; did you mean {hint[0]}?" if hint else ""
        lines.append(f"environment: {variable} is not a keysentry setting{suggestion}")
    return lines
