"""Turning server bytes into Python values and models, where every failure is a ProtocolError.

The adapters are lenient readers: they accept each documented envelope variant, keep unknown fields, and
treat unknown enum values as plain strings. What they cannot read (not JSON, wrong types) ends here as a
:class:`ProtocolError` whose message says what was expected, never as a pydantic traceback.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from shipdeck.api.errors import ProtocolError

M = TypeVar("M", bound=BaseModel)

JsonObject = dict[str, Any]


def decode_json(raw: bytes, *, what: str) -> Any:
    """Bytes of a response body -> a JSON value (ProtocolError on invalid UTF-8 or invalid JSON)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(f"{what}: the answer is not valid UTF-8 (byte {exc.start})") from None
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        raise ProtocolError(f"{what}: the answer is not valid JSON ({detail})") from None


def decode_frame(data: str | bytes, *, what: str, unit: str = "frame") -> JsonObject:
    """One stream frame's payload (an SSE ``data`` field, a WebSocket message) -> its JSON object;
    ProtocolError names ``what`` and the ``unit`` ("frame", "message") when it is not UTF-8 or not JSON."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError(f"{what}: {unit} is not valid UTF-8") from None
    try:
        value = json.loads(data)
    except (json.JSONDecodeError, RecursionError):
        raise ProtocolError(f"{what}: {unit} is not valid JSON") from None
    return expect_object(value, what=what)


def expect_object(value: Any, *, what: str) -> JsonObject:
    if not isinstance(value, dict):
        raise ProtocolError(f"{what}: expected a JSON object, got {_json_kind(value)}")
    return value


def unwrap_object(body: Any, *, what: str, keys: tuple[str, ...] = ()) -> JsonObject:
    """``{"data": {...}}``, ``{"<key>": {...}}`` or the bare object."""
    obj = expect_object(body, what=what)
    for key in ("data", *keys):
        inner = obj.get(key)
        if isinstance(inner, dict):
            return inner
    return obj


@dataclass(frozen=True)
class ListAnswer:
    """A list answer's items and the objects around them, innermost first (``{"data": {"items": [...],
    "next_cursor": ...}}``: the inner object, then the body), where its cursor and total are read."""

    items: list[JsonObject]
    scopes: tuple[JsonObject, ...] = ()


def read_list(body: Any, *, what: str, keys: tuple[str, ...] = ()) -> ListAnswer:
    """A bare array, ``{"data": [...]}``, ``{"items": [...]}`` or a resource-named key, and nested under
    ``data`` as the official SDK reads them (``{"data": {"items": [...]}}``, ``{"data": {"versions":
    [...]}}``); objects only. Anything else is a ProtocolError."""
    names = ("items", *keys)
    items: Any = None
    scopes: tuple[JsonObject, ...] = ()
    if isinstance(body, list):
        items = body
    elif isinstance(body, dict):
        scopes = (body,)
        for key in ("data", *names):
            if isinstance(body.get(key), list):
                items = body[key]
                break
        inner = body.get("data")
        if items is None and isinstance(inner, dict):
            for key in names:
                if isinstance(inner.get(key), list):
                    items, scopes = inner[key], (inner, body)
                    break
    if items is None:
        looked = ", ".join(f"'{name}'" for name in ("data", *names))
        where = f" (no list under {looked}, at the top or under 'data')" if isinstance(body, dict) else ""
        raise ProtocolError(f"{what}: expected a list, got {_json_kind(body)}{where}")
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise ProtocolError(f"{what}: item {index} is {_json_kind(item)}, expected an object")
    return ListAnswer(list(items), scopes)


def unwrap_list(body: Any, *, what: str, keys: tuple[str, ...] = ()) -> list[JsonObject]:
    """The items of a list answer (every form :func:`read_list` reads)."""
    return read_list(body, what=what, keys=keys).items


def build_model(cls: type[M], fields: Mapping[str, Any], *, what: str) -> M:
    """Validate ``fields`` into ``cls``; any mismatch is a ProtocolError naming the field."""
    try:
        return cls.model_validate(dict(fields))
    except ValidationError as exc:
        first = exc.errors()[0] if exc.errors() else None
        if first is None:
            raise ProtocolError(f"{what}: unreadable {cls.__name__}") from None
        location = ".".join(str(part) for part in first["loc"]) or cls.__name__
        raise ProtocolError(
            f"{what}: field {location!r} is invalid ({first['msg']}); got {_short(first.get('input'))}"
        ) from None
    except (TypeError, ValueError, RecursionError) as exc:
        raise ProtocolError(f"{what}: unreadable {cls.__name__} ({exc.__class__.__name__})") from None


def validated_model(cls: type[M], values: dict[str, Any], fields_set: set[str]) -> M:
    """A ``cls`` of ``values`` that were validated against its own fields already (a whole page at once,
    by a model made of them): no second validation, no provider extras. ``values`` becomes its __dict__."""
    model = cls.__new__(cls)
    object.__setattr__(model, "__dict__", values)
    object.__setattr__(model, "__pydantic_fields_set__", fields_set)
    object.__setattr__(model, "__pydantic_extra__", {})
    object.__setattr__(model, "__pydantic_private__", None)
    return model


def first_present(raw: Mapping[str, Any], *keys: str) -> Any:
    """The first of ``keys`` whose value is not None (providers spell the same field differently)."""
    for key in keys:
        value = raw.get(key)
        if value is not None:
            return value
    return None


def optional_int(value: Any) -> int | None:
    """An int from a header or a field that may be a numeric string; None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


def optional_float(value: Any) -> float | None:
    """A finite float from a number or a numeric string; None when it is not one. NaN and the infinities
    (JSON's literal NaN and Infinity, "nan", "inf", an out-of-range "1e999" or 1e999) are no number a
    server can mean, and one reached the console's chart (which cannot draw it) and ``--json`` (NaN)."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float):
            number = float(value)
        elif isinstance(value, str):
            number = float(value.strip())
        else:
            return None
    except (ValueError, OverflowError):  # not a number; an int past float's range
        return None
    return number if math.isfinite(number) else None


def optional_figure(value: Any, *, most: float) -> float | None:
    """A measured figure a server sends (a latency, requests per minute, a window's length): a finite
    number in ``0..most``, else None, shown as missing: a negative or absurd figure is no measurement."""
    number = optional_float(value)
    return number if number is not None and 0.0 <= number <= most else None


def optional_count(value: Any, *, most: int) -> int | None:
    """A count a server sends (requests, errors): an int in ``0..most``, else None."""
    count = optional_int(value)
    return count if count is not None and 0 <= count <= most else None


@dataclass(frozen=True)
class ErrorBody:
    """What an error answer says, whatever the provider's dialect."""

    message: str | None = None
    code: str | None = None
    details: Any = None
    retry_after: float | None = None
    request_id: str | None = None


def parse_error_body(body: Any) -> ErrorBody:
    """Read every documented error shape; never raises (a non-JSON body gives an empty ErrorBody).

    Miosa ``{"error": {"code", "message", "details"}}`` and the flat ``{"error": "msg", "code"}``;
    Miteos ``{"detail": "..."}`` or a FastAPI list; Mixpeek ``{"success": false, "error": {"message",
    "type", "details"}}``; ``{"message"}``; ``{"errors": [...]}``.
    """
    if not isinstance(body, dict):
        return ErrorBody()
    message: str | None = None
    code: str | None = None
    details: Any = None
    error = body.get("error")
    if isinstance(error, dict):
        message = _text(error.get("message"))
        code = _text(error.get("code")) or _text(error.get("type"))
        details = error.get("details")
    elif isinstance(error, str):
        # An all-caps error is a code (Python SDK convention); anything else is the message.
        if error.isupper() and " " not in error:
            code = error
        else:
            message = error
    message = message or _text(body.get("message")) or _detail_text(body.get("detail"))
    if message is None and isinstance(body.get("errors"), list) and body["errors"]:
        first = body["errors"][0]
        message = _text(first) or (_text(first.get("message")) if isinstance(first, dict) else None)
    code = code or _text(body.get("code"))
    if details is None:
        details = body.get("errors") or (body.get("detail") if isinstance(body.get("detail"), list) else None)
    retry_after = optional_float(body.get("retry_after"))
    if retry_after is None and isinstance(error, dict):
        retry_after = optional_float(error.get("retry_after"))
    if retry_after is None:
        # The official Miosa SDK's hint: milliseconds, under "error" or at the top.
        scope = error if isinstance(error, dict) else body
        milliseconds = optional_float(scope.get("retry_after_ms"))
        retry_after = milliseconds / 1000 if milliseconds is not None else None
    return ErrorBody(
        message=message,
        code=code,
        details=details,
        retry_after=retry_after,
        request_id=_text(body.get("request_id")),
    )


def _detail_text(detail: Any) -> str | None:
    if isinstance(detail, str):
        return detail or None
    if isinstance(detail, list):
        parts = []
        for item in detail[:3]:
            if isinstance(item, dict):
                loc = item.get("loc")
                where = ".".join(str(p) for p in loc) if isinstance(loc, list) else ""
                msg = _text(item.get("msg")) or ""
                parts.append(f"{where}: {msg}" if where else msg)
            elif isinstance(item, str):
                parts.append(item)
        return "; ".join(p for p in parts if p) or None
    return None


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value.strip():
        return value.strip()[:500]
    return None


def _json_kind(value: Any) -> str:
    if value is None:
        return "nothing (null or an empty body)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
