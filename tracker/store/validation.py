"""The rules every write obeys, whoever writes it (docs/records.md, "What a store accepts").

Every op in :mod:`tracker.store.ops` checks its fields against these rules when it is
built, so the public API, notebook capture, sklearn autolog, the search, the server's
PATCH routes and ``tracker import`` cannot hand the database anything that
``log_params``/``log_metrics`` would refuse, and what SQLite stores PostgreSQL stores too.
The rules are chosen so that both backends accept every value that passes them:

* **Text** is any Unicode string without NUL (PostgreSQL text cannot hold it) and without
  surrogate code points (they have no UTF-8 form, so no driver can send them and no archive
  can write them).
* **Names** have one maximum per kind, equal to the width of their column on both
  backends: keys of params, metrics, tags and attrs 250 characters; run and data names
  500; ids 36.
* **Steps** are int64 (0 to 2**63 - 1); **times** are finite and inside ``datetime``'s
  years 1 to 9999; **metric values** are real numbers that fit a double (NaN and the
  infinities kept, ``-0.0`` kept, ``10**400`` refused instead of raising ``OverflowError``).
* **Params** are ``None``, bool, int (within the double range, so the numeric view used by
  filters exists), float or text; nested dicts are flattened with dots, and two keys that
  flatten to the same name are refused.

Checks are written for the logging hot path: one pass per value, with a fast path for the
common exact types (``str.isascii`` settles most text in one C call).

Every failure raises :class:`~tracker.exceptions.ValidationError` naming the key and the rule.
"""

from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Iterable, Mapping
from typing import Any, Final, cast

from tracker.exceptions import ValidationError
from tracker.records import JSONValue, ParamValue, RunKind, RunStatus

__all__ = [
    "ARTIFACT_KINDS",
    "MAX_ID",
    "MAX_KEY",
    "MAX_MEDIA_TYPE",
    "MAX_NAME",
    "MAX_NOTES",
    "MAX_PARAM_STR",
    "MAX_SETTING",
    "MAX_STEP",
    "MAX_TAG_VALUE",
    "check_amount",
    "check_attrs",
    "check_hex",
    "check_id",
    "check_json",
    "check_key",
    "check_kind",
    "check_media_type",
    "check_name",
    "check_notes",
    "check_size",
    "check_status",
    "check_step",
    "check_tags",
    "check_text",
    "check_time",
    "flatten_params",
    "metric_value",
    "param_value",
    "validate_metrics",
]

#: Keys of params, metrics, tags and attrs (``VARCHAR(250)`` columns).
MAX_KEY: Final = 250
#: Run names and data names (``VARCHAR(500)`` columns).
MAX_NAME: Final = 500
#: Run ids and row ids (``VARCHAR(36)``: a uuid with dashes).
MAX_ID: Final = 36
#: A cell id from the notebook, the cell's hashes (``VARCHAR(250)`` / ``VARCHAR(64)``).
MAX_CELL_ID: Final = 250
MAX_HASH: Final = 64
MAX_DIGEST: Final = 128
#: A text param value.
MAX_PARAM_STR: Final = 65_535
#: A tag value (text column; the same bound as the panel's editor).
MAX_TAG_VALUE: Final = 5_000
#: A run's notes (text column; the same bound as the panel's editor).
MAX_NOTES: Final = 100_000
#: Steps are int64 on both backends.
MAX_STEP: Final = 2**63 - 1
#: Seconds since the epoch that ``datetime`` can represent (years 1 to 9999).
MIN_TIME: Final = -62_135_596_800.0
MAX_TIME: Final = 253_402_300_799.0
#: How deep a JSON document (attrs, errors, data references) may nest.
MAX_JSON_DEPTH: Final = 64

_KINDS: Final = frozenset(k.value for k in RunKind)
_STATUSES: Final = frozenset(s.value for s in RunStatus)
# The largest int with a float view: float() of anything larger overflows.
_MAX_FLOAT_INT: Final = int(sys.float_info.max)


# --- text ---------------------------------------------------------------------------------


def _short(text: str) -> str:
    return repr(text) if len(text) <= 60 else f"{text[:40]!r}... ({len(text)} characters)"


def _text_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored on every backend, or ``None`` when it can."""
    if "\x00" in text:
        return (
            f"contains a NUL character (\\x00) at position {text.index(chr(0))}, which "
            "PostgreSQL cannot store; remove it"
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (
            f"contains a lone surrogate ({text[exc.start]!r}) at position {exc.start}, which "
            "is not valid Unicode; decode bytes with errors='replace', or log them as hex"
        )
    return None


def check_text(what: str, text: object, limit: int | None = None) -> str:
    """``text`` if it is a string without NUL or surrogates and at most ``limit`` long.

    Args:
        what: How the error names the value (``"tag 'stage'"``, ``"run name"``).
        text: The value.
        limit: Maximum length in characters (``None``: no limit).

    Raises:
        ValidationError: names ``what`` and the rule.
    """
    if type(text) is not str:
        if not isinstance(text, str):
            raise ValidationError(f"{what} must be a string, not {type(text).__name__}")
        text = str.__str__(text)  # an exact str: subclasses may behave differently
    if limit is not None and len(text) > limit:
        raise ValidationError(
            f"{what} is {len(text)} characters long; the limit is {limit}: {_short(text)}"
        )
    if not text.isascii() or "\x00" in text:
        problem = _text_problem(text)
        if problem is not None:
            raise ValidationError(f"{what} {problem}: {_short(text)}")
    return text


def check_key(what: str, key: object, limit: int = MAX_KEY) -> str:
    """A param, metric, tag, attr or data name: non-blank text of at most ``limit`` characters.

    Raises:
        ValidationError: names the key and the rule.
    """
    if type(key) is not str:
        if not isinstance(key, str):
            raise ValidationError(
                f"{what} names must be strings, got {type(key).__name__} {key!r:.60}"
            )
        key = str.__str__(key)
    if not key or key.isspace():
        raise ValidationError(f"{what} names must not be empty or blank, got {key!r}")
    if len(key) > limit:
        raise ValidationError(
            f"{what} name {key[:40]!r}... is {len(key)} characters; the limit is {limit}"
        )
    if not key.isascii() or "\x00" in key:
        problem = _text_problem(key)
        if problem is not None:
            raise ValidationError(f"{what} name {_short(key)} {problem}")
    return key


def check_name(name: object, what: str = "run name") -> str:
    """A run name: non-blank text of at most :data:`MAX_NAME` characters."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(f"a {what} must be a non-empty string, got {name!r:.60}")
    return check_text(what, name, MAX_NAME)


def check_notes(notes: object) -> str:
    """A run's notes: text of at most :data:`MAX_NOTES` characters."""
    if not isinstance(notes, str):
        raise ValidationError(f"notes must be a string, not {type(notes).__name__}")
    return check_text("notes", notes, MAX_NOTES)


def check_id(what: str, value: object, *, optional: bool = False) -> Any:
    """A run or row id: text of 1 to :data:`MAX_ID` characters (or ``None`` if optional)."""
    if value is None and optional:
        return None
    if type(value) is str and 0 < len(value) <= MAX_ID and value.isascii() and "\x00" not in value:
        return value
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID:
        raise ValidationError(
            f"{what} must be a string of 1 to {MAX_ID} characters, got {value!r:.60}"
        )
    return check_text(what, value, MAX_ID)


def check_kind(kind: object) -> str:
    """A run kind's value (``run``, ``session``, ``cell``, ``search``, ``trial``)."""
    if kind not in _KINDS:
        raise ValidationError(
            f"unknown run kind {kind!r}; use one of {', '.join(k.value for k in RunKind)}"
        )
    return str(kind)


def check_status(status: object) -> str:
    """A run status's value (``running``, ``finished``, ``failed``, ``interrupted``)."""
    if status not in _STATUSES:
        raise ValidationError(
            f"unknown run status {status!r}; use one of {', '.join(s.value for s in RunStatus)}"
        )
    return str(status)


# --- numbers ------------------------------------------------------------------------------


def check_time(what: str, value: object, *, optional: bool = False) -> Any:
    """Seconds since the epoch: a finite number inside ``datetime``'s range."""
    if value is None and optional:
        return None
    t = type(value)
    if t is float:
        if MIN_TIME <= cast(float, value) <= MAX_TIME:  # False for NaN too
            return value
    elif t is not bool and isinstance(value, numbers.Real):
        try:
            f = float(value)
        except OverflowError:
            f = math.inf
        if MIN_TIME <= f <= MAX_TIME:
            return f
    raise ValidationError(
        f"{what} must be seconds since the epoch (a finite number between {MIN_TIME:.0f} "
        f"and {MAX_TIME:.0f}), got {value!r:.60}"
    )


def check_count(what: str, value: object, *, optional: bool = False) -> Any:
    """A small non-negative integer (cell sequence numbers, execution counts): int32."""
    if value is None and optional:
        return None
    if type(value) is int and 0 <= value < 2**31:
        return value
    raise ValidationError(f"{what} must be an integer from 0 to 2**31 - 1, got {value!r:.60}")


def check_amount(what: str, value: object, *, optional: bool = False) -> Any:
    """A finite non-negative number below 1e15 (a cell's duration in ms, its peak MB)."""
    if value is None and optional:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 1e15:
        return value
    raise ValidationError(f"{what} must be a finite number >= 0, got {value!r:.40}")


def check_step(step: object) -> int | None:
    """A metric step: ``None`` or an integer from 0 to 2**63 - 1 (int64 on every backend).

    Raises:
        ValidationError: a negative, too large, fractional or non-integer step.
    """
    if step is None:
        return None
    if type(step) is int:
        s = step
    else:
        np = sys.modules.get("numpy")
        if isinstance(step, bool) or not (
            isinstance(step, int) or (np is not None and isinstance(step, np.integer))
        ):
            raise ValidationError(
                f"step must be a non-negative integer below 2**63 or None, got {step!r:.60}"
            )
        s = int(step)
    if not 0 <= s <= MAX_STEP:
        raise ValidationError(
            f"step must be a non-negative integer below 2**63 (int64) or None, got {s}"
        )
    return s


def metric_value(key: str, value: object) -> float:
    """A metric value as a float: any real number a double holds; NaN and infinities kept.

    Raises:
        ValidationError: not a real number (bools included), or too large for a double.
    """
    t = type(value)
    if t is float:
        return value  # type: ignore[return-value]
    np = sys.modules.get("numpy")
    is_bool = t is bool or (np is not None and isinstance(value, np.bool_))
    if is_bool or not isinstance(value, numbers.Real):
        if np is not None and isinstance(value, np.ndarray) and value.size == 1:
            hint = " (a one-element array: pass value.item())"
        else:
            hint = ""
        raise ValidationError(
            f"metric {key!r} must be a real number, "
            f"got {type(value).__qualname__} {value!r:.60}{hint}"
        )
    try:
        return float(value)
    except OverflowError:
        raise ValidationError(
            f"metric {key!r} is too large for a double (about 1.8e308 at most): "
            f"{str(value)[:40]}...; log its logarithm, or inf"
        ) from None


def validate_metrics(metrics: Mapping[str, object]) -> dict[str, float]:
    """Check metric names and values (real numbers, numpy included; NaN and inf kept).

    Returns:
        Name to float.

    Raises:
        ValidationError: names the metric and the problem.
    """
    if type(metrics) is not dict and not isinstance(metrics, Mapping):
        raise ValidationError(
            f"metrics must be a dict of name -> number, not {type(metrics).__name__}"
        )
    return {check_key("metric", k): metric_value(k, v) for k, v in metrics.items()}


# --- params -------------------------------------------------------------------------------


def _param_int(key: str, value: int) -> int:
    if -_MAX_FLOAT_INT <= value <= _MAX_FLOAT_INT:
        return value
    raise ValidationError(
        f"param {key!r} is an int of {value.bit_length()} bits, beyond what a double holds "
        "(about 1.8e308), so filters could not compare it; log it as a string with str()"
    )


def param_value(key: str, value: object) -> ParamValue:
    """A param value as stored: ``None``, bool, int, float or text (numpy scalars converted).

    Raises:
        ValidationError: names the key and the type or rule.
    """
    t = type(value)
    if t is float or t is bool or value is None:
        return cast(ParamValue, value)
    if t is str:
        text = cast(str, value)
        if len(text) > MAX_PARAM_STR or not text.isascii() or "\x00" in text:
            return check_text(f"param {key!r}", text, MAX_PARAM_STR)
        return text
    if t is int:
        return _param_int(key, cast(int, value))
    if isinstance(value, bool | int | float | str):  # subclasses: store the plain value
        if isinstance(value, str):
            return check_text(f"param {key!r}", value, MAX_PARAM_STR)
        if isinstance(value, int):
            return _param_int(key, int(value))
        return float(value)
    np = sys.modules.get("numpy")
    if np is not None and isinstance(value, np.generic) and not isinstance(value, np.void):
        item = value.item()
        if item is None or isinstance(item, bool | int | float | str):
            return param_value(key, item)
    raise ValidationError(
        f"param {key!r} has type {type(value).__module__}.{type(value).__qualname__}; "
        "params must be str, int, float, bool, None, a numpy scalar, or a dict of those "
        "(log data with log_data, and convert other values with str())"
    )


_PARAM_SCALARS: Final = frozenset({str, float, int, bool, type(None)})


def _flatten_into(out: dict[str, ParamValue], params: Mapping[Any, Any], prefix: str) -> None:
    for k, v in params.items():
        if type(k) is not str or not k or k.isspace():
            if prefix and isinstance(k, str):
                raise ValidationError(f"param {prefix + k!r} has an empty or blank name part")
            check_key("param", k)  # raises: not text, or empty
        full = prefix + k if prefix else k
        if type(v) is dict or (type(v) not in _PARAM_SCALARS and isinstance(v, Mapping)):
            _flatten_into(out, v, f"{full}.")
            continue
        if len(full) > MAX_KEY or not full.isascii() or "\x00" in full:
            check_key("param", full)
        if full in out:
            raise ValidationError(
                f"param {full!r} is given twice once nested dicts are flattened with dots "
                f"(e.g. {{'a.b': 1, 'a': {{'b': 2}}}}); rename one of them"
            )
        out[full] = param_value(full, v)


def flatten_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, ParamValue]:
    """Validate params and flatten nested dicts with dots: ``{"a": {"b": 1}}`` -> ``{"a.b": 1}``.

    Args:
        params: Name to value, or to a nested dict of those.
        prefix: Prepended to every key.

    Returns:
        The flat params as they are stored.

    Raises:
        ValidationError: names the key and the type or rule of the first bad value, or two
            keys that flatten to the same name.
    """
    if type(params) is not dict and not isinstance(params, Mapping):
        raise ValidationError(f"params must be a dict, not {type(params).__name__}")
    out: dict[str, ParamValue] = {}
    _flatten_into(out, params, prefix)
    return out


# --- tags, attrs, JSON documents -----------------------------------------------------------


def check_tags(tags: object, *, deletes: bool = False) -> dict[str, Any]:
    """Tags as stored: text keys to text values (numbers and bools converted with ``str``).

    Args:
        tags: Name to value.
        deletes: ``None`` values are allowed (they delete the tag).

    Raises:
        ValidationError: names the tag and the rule.
    """
    # A plain dict first: an ABC check costs a lookup in the ABC's cache (each of these
    # runs once or more per run).
    if type(tags) is not dict and not isinstance(tags, Mapping):
        raise ValidationError(f"tags must be a dict of name -> string, not {type(tags).__name__}")
    out: dict[str, Any] = {}
    for k, v in tags.items():
        key = check_key("tag", k)
        if type(v) is not str:
            if v is None and deletes:
                out[key] = None
                continue
            if v is None or not isinstance(v, str | int | float | bool):
                raise ValidationError(
                    f"tag {key!r} must be a string (or a number/bool), got {type(v).__name__}"
                )
            v = str.__str__(v) if isinstance(v, str) else str(v)
        if len(v) > MAX_TAG_VALUE or not v.isascii() or "\x00" in v:
            v = check_text(f"tag {key!r}", v, MAX_TAG_VALUE)
        out[key] = v
    return out


_JSON_SCALARS: Final = (str, float, bool, type(None))


def check_json(what: str, value: object) -> None:
    r"""``value`` is a JSON document our encoder writes and reads back (NaN allowed).

    Objects have text keys; ints fit a double; nesting is at most :data:`MAX_JSON_DEPTH`
    deep. Strings may hold anything: JSON documents are stored with ``\\u`` escapes.

    Raises:
        ValidationError: names ``what`` and the offending path.
    """
    stack: list[tuple[object, str, int]] = [(value, "", 0)]
    while stack:
        v, path, depth = stack.pop()
        t = type(v)
        if t in _JSON_SCALARS:
            continue
        if t is int:
            if not -_MAX_FLOAT_INT <= v <= _MAX_FLOAT_INT:  # type: ignore[operator]
                raise ValidationError(f"{what}{path}: an int too large for a JSON number")
            continue
        if depth >= MAX_JSON_DEPTH:
            raise ValidationError(
                f"{what}{path}: nested more than {MAX_JSON_DEPTH} levels deep (or a cycle)"
            )
        if isinstance(v, Mapping):
            for k, item in v.items():
                if not isinstance(k, str):
                    raise ValidationError(
                        f"{what}{path}: object keys must be strings, "
                        f"got {type(k).__name__} {k!r:.40}"
                    )
                stack.append((item, f"{path}[{k!r:.40}]", depth + 1))
        elif isinstance(v, list | tuple):
            stack.extend((item, f"{path}[{i}]", depth + 1) for i, item in enumerate(v))
        elif isinstance(v, bool | int | float | str):  # subclasses (IntEnum...) encode as such
            continue
        else:
            raise ValidationError(
                f"{what}{path} has type {type(v).__qualname__}; JSON documents hold only "
                "dicts, lists, str, int, float, bool and None"
            )


def check_attrs(attrs: object) -> dict[str, JSONValue]:
    """Attrs as stored: text keys to JSON documents (``None`` deletes the key)."""
    if not isinstance(attrs, Mapping):
        raise ValidationError(f"attrs must be a dict, not {type(attrs).__name__}")
    out: dict[str, JSONValue] = {}
    for k, v in attrs.items():
        key = check_key("attr", k)
        check_json(f"attr {key!r}", v)
        out[key] = v
    return out


def check_strings(what: str, values: Iterable[object]) -> tuple[str, ...]:
    """A list of names stored as a JSON list (a cell's reads and writes)."""
    out = tuple(values)
    for v in out:
        if not isinstance(v, str):
            raise ValidationError(f"{what} must be strings, got {type(v).__name__} {v!r:.40}")
    return cast(tuple[str, ...], out)


# --- artifacts ----------------------------------------------------------------------------

#: Artifact kinds (docs/models.md): what was logged.
ARTIFACT_KINDS: Final = frozenset({"file", "bytes", "text", "figure", "directory", "model"})
#: A media type (``type/subtype`` and parameters), e.g. ``image/png``.
MAX_MEDIA_TYPE: Final = 255
#: A store setting's value (the artifact root URL is the longest one).
MAX_SETTING: Final = 4096
_HEX: Final = frozenset("0123456789abcdef")


def check_hex(what: str, value: object, length: int) -> str:
    """Exactly ``length`` lowercase hex digits (a digest).

    Raises:
        ValidationError: names ``what`` and the rule.
    """
    if type(value) is str and len(value) == length and set(value) <= _HEX:
        return value
    raise ValidationError(f"{what} must be {length} lowercase hex digits, got {value!r:.80}")


def check_media_type(value: object) -> str:
    """A media type such as ``image/png`` or ``text/plain; charset=utf-8``.

    Raises:
        ValidationError: not ``type/subtype`` text of at most :data:`MAX_MEDIA_TYPE` characters.
    """
    text = check_text("artifact media type", value, MAX_MEDIA_TYPE)
    kind, slash, rest = text.partition(";")[0].strip().partition("/")
    if not (slash and kind and rest) or any(c.isspace() or c in '"<>\\' for c in kind + rest):
        raise ValidationError(
            "artifact media type must look like 'type/subtype' (e.g. 'image/png'), "
            f"got {text!r:.80}"
        )
    return text


def check_size(what: str, value: object) -> int:
    """A byte count: an integer from 0 to 2**63 - 1."""
    if type(value) is int and 0 <= value <= MAX_STEP:
        return value
    raise ValidationError(f"{what} must be an integer from 0 to 2**63 - 1, got {value!r:.60}")
