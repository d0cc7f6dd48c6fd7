"""Model file formats: skops (no pickle, the default) and pickle (only when asked for).

skops saves a scikit-learn estimator as a zip of JSON and arrays and loads it without
running pickle's arbitrary code: loading builds only types the caller trusts. This module
is the only importer of skops (tests/test_boundaries.py). Which types are trusted:

* skops' own default list (most of scikit-learn, numpy and builtins);
* any further type it reports (``get_untrusted_types``) that is a class defined in
  scikit-learn, numpy or scipy, or a numpy ufunc (``FunctionTransformer(np.log1p)``):
  code the caller already runs, imported from those packages by name, never code from
  the file; except the types skops lists as unsafe to trust by default
  (``UNTRUSTED_TYPE_REASONS``: the node storage of tree models, whose content skops cannot
  check), which, like everything else, must be named;
* anything else only when the caller names it (``trusted=["mypkg.MyScaler"]``) or trusts
  the file outright (``trusted=True``); otherwise :class:`UntrustedModelError` lists them.

A pickle runs code from the file when loaded, so it loads only with ``trusted=True``.
"""

from __future__ import annotations

import importlib
import io
import pickle
import re
import zipfile
from collections.abc import Sequence
from typing import Any

from tracker.exceptions import UntrustedModelError, ValidationError
from tracker.models._canonical import dumps_skops

__all__ = ["FORMATS", "MEDIA_TYPES", "dumps", "loads", "untrusted_types"]

FORMATS = ("skops", "pickle")
MEDIA_TYPES = {"skops": "application/x-skops", "pickle": "application/x-pickle"}
#: Packages whose classes are trusted when a skops file names them (see the docstring).
_TRUSTED_PACKAGES = frozenset({"sklearn", "numpy", "scipy"})

Trust = bool | Sequence[str]


def check_format(fmt: object) -> str:
    """The format name, checked.

    Raises:
        ValidationError: not one of :data:`FORMATS`.
    """
    if fmt not in FORMATS:
        raise ValidationError(f"unknown model format {fmt!r}; use 'skops' (default) or 'pickle'")
    return str(fmt)


def dumps(model: object, fmt: str) -> bytes:
    """The model saved in ``fmt``.

    Raises:
        ValidationError: skops cannot hold the object (names ``format="pickle"``).
    """
    if fmt == "pickle":
        try:
            return pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise ValidationError(
                f"cannot pickle the {type(model).__qualname__} model: {exc}"
            ) from None
    try:
        data = dumps_skops(model)
        # skops names functions and classes by module and name; one that cannot be found
        # again by that name (a lambda, a function defined inside another) saves but
        # could never load, so it is refused now rather than at load time.
        lost = [t for t in untrusted_types(data) if not _findable(t)]
    except Exception as exc:
        lost, data = [f"{type(exc).__name__}: {str(exc)[:200]}"], b""
    if lost:
        raise ValidationError(
            f"skops cannot save the {type(model).__qualname__} model so that it loads again "
            f"({', '.join(lost[:5])}). skops holds scikit-learn estimators, pipelines and "
            "the numpy/scipy objects in them, and importable functions and classes, without "
            'pickle. For another object, log it with format="pickle" (loading it then needs '
            "trusted=True, since a pickle runs code from the file)"
        )
    return data


def _findable(name: str) -> bool:
    """Whether ``module.attr`` can be imported by that name (what skops will do on load)."""
    module, _, attr = name.rpartition(".")
    if not module or "<" in name:
        return False
    try:
        obj: Any = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return False
    return True


def _known_unsafe() -> dict[str, str]:
    """Types skops' maintainers say never to trust by default, with their reasons.

    ``sklearn.tree._tree.Tree`` (every tree ensemble) is one: skops can check an object's
    type but not its content, and scikit-learn indexes a tree's node arrays without bounds
    checks, so a crafted file could crash the process or read memory at ``predict``.
    """
    try:
        from skops.io.exceptions import UNTRUSTED_TYPE_REASONS
    except ImportError:  # older skops: no such list
        return {}
    return {str(k): str(v) for k, v in UNTRUSTED_TYPE_REASONS.items()}


def _is_safe_name(name: str) -> bool:
    """Whether a type name skops reports is a scikit-learn/numpy/scipy class or a ufunc."""
    if name in _known_unsafe():
        return False
    module, _, attr = name.rpartition(".")
    if module.split(".", 1)[0] not in _TRUSTED_PACKAGES or not attr:
        return False
    try:
        obj = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return False
    import numpy as np

    return isinstance(obj, type | np.ufunc)


_SLOW = object()
_CLASS = re.compile(r'"__class__":\s*"([^"\\]+)",\s*"__module__":\s*"([^"\\]+)"')


def _fast_load(data: bytes, named: set[str]) -> Any:
    """Load with the trusted types read from the schema, or ``_SLOW`` to take the long way.

    Asking skops which types it does not trust (``get_untrusted_types``) builds the whole
    object tree once more before ``loads`` builds it again: a third of a load. Instead the
    class names are read from the schema's JSON, the same rule picks the trusted ones, and
    ``loads`` checks them itself; if it still finds a type outside them (a function, or a
    type the rule refuses), the long way gives the error its list.
    """
    import skops.io as sio
    from skops.io.exceptions import UntrustedTypesFoundException

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            schema = z.read("schema.json").decode("utf-8")
    except (zipfile.BadZipFile, KeyError, ValueError):
        return _SLOW
    # Every node names its class then its module (skops' key order): a regex over the
    # text is several times faster than decoding and walking it. A name it misses only
    # sends the load the long way.
    names = {f"{module}.{cls}" for cls, module in _CLASS.findall(schema)}
    allowed = sorted(n for n in names if n in named or _is_safe_name(n))
    try:
        return sio.loads(data, trusted=allowed)
    except UntrustedTypesFoundException:
        return _SLOW
    except Exception:  # the long way loads again and reports the error in full
        return _SLOW


def untrusted_types(data: bytes) -> list[str]:
    """Types a skops file names that skops does not trust by default."""
    import skops.io as sio

    return [str(t) for t in sio.get_untrusted_types(data=data)]


def loads(data: bytes, fmt: str, what: str, trusted: Trust = False) -> Any:
    """The model in ``data`` (already checked against its digests).

    Args:
        data: The saved bytes.
        fmt: ``"skops"`` or ``"pickle"``.
        what: The model's reference, for messages.
        trusted: ``True`` trusts every type (needed for a pickle); a list of type names
            trusts those besides the default ones.

    Raises:
        UntrustedModelError: a pickle without ``trusted=True``, or a skops file naming
            types outside the trusted ones (listed in the message).
    """
    if fmt == "pickle":
        if trusted is not True:
            raise UntrustedModelError(
                f"{what} is a pickle: loading it runs code from the file. Load it with "
                "trusted=True only if you trust whoever could write to the store and its "
                "artifact root"
            )
        return pickle.loads(data)
    import skops.io as sio

    named = set(trusted) if isinstance(trusted, list | tuple) else set()
    if trusted is not True:
        fast = _fast_load(data, named)
        if fast is not _SLOW:
            return fast
    extra = untrusted_types(data)
    allowed = [t for t in extra if trusted is True or t in named or _is_safe_name(t)]
    refused = [t for t in extra if t not in allowed]
    if refused:
        reasons = _known_unsafe()
        why = " ".join(reasons[t] for t in refused if t in reasons)
        raise UntrustedModelError(
            f"{what} holds types that are not trusted for loading: {', '.join(refused[:20])}. "
            "scikit-learn, numpy and scipy classes are trusted without asking, except those "
            "skops marks as unsafe by default. If you trust these, pass them: "
            f"load_model(ref, trusted={refused[:20]!r}) (or trusted=True for the whole file)."
            + (f" skops says: {why}" if why else ""),
            refused,
        )
    try:
        return sio.loads(data, trusted=allowed)
    except Exception as exc:
        raise ValidationError(
            f"{what} could not be loaded by skops: {type(exc).__name__}: {str(exc)[:300]}"
        ) from None
