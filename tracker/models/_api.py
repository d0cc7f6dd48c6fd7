"""Log, load and register models (the functions ``tracker.*`` exposes; docs/models.md).

A model is saved to bytes (skops by default, :mod:`tracker.models._formats`) and stored
through the run's artifact store like any artifact, content-addressed and verified on
load; its record (kind ``"model"``) carries what :mod:`tracker.models._describe` finds.
The registry (versions, aliases, history) lives in the store's tables and is written in
one transaction per change; registering pins the model's digest, so a version always
loads the bytes it was registered with.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Callable, Sequence
from typing import Any

from tracker.exceptions import ValidationError
from tracker.records import (
    MODEL_KIND,
    ModelRef,
    ModelVersion,
    RegisteredModel,
    RegistryEvent,
)
from tracker.store import BaseStore, get_store
from tracker.store.ops import Op
from tracker.store.validation import MAX_NAME, check_key, check_text

__all__ = [
    "check_reason",
    "get_model_version",
    "list_models",
    "load_model",
    "log_model",
    "model_history",
    "register_model",
    "set_alias",
    "who",
]

#: Longest ``reason`` kept with a registry event.
MAX_REASON = 10_000


def who() -> str:
    """Who is acting on the registry: ``TRACKER_USER``, else the OS user name."""
    name = os.environ.get("TRACKER_USER", "").strip()
    if not name:
        try:
            name = getpass.getuser()
        except Exception:  # no user name on this platform or in this container
            name = "unknown"
    return name[:250]


def log_model(
    store: BaseStore,
    run_id: str,
    model: object,
    name: str = "model",
    *,
    write: Callable[[Sequence[Op]], None],
    input_example: object = None,
    format: str = "skops",
) -> ModelRef:
    """Save ``model`` and record it on ``run_id`` (``ActiveRun.log_model`` calls this).

    Raises:
        ValidationError: a bad name or format, or an object the format cannot hold
            (names ``format="pickle"``); nothing is stored then.
    """
    from tracker.models import _describe, _formats
    from tracker.store.artifacts import for_store

    fmt = _formats.check_format(format)
    check_key("model", name, MAX_NAME)
    schema = _describe.input_schema(input_example)  # before saving: a bad example fails fast
    data = _formats.dumps(model, fmt)
    dist, version, cls = _describe.framework(model)
    meta: dict[str, Any] = {
        "format": fmt,
        "framework": dist,
        "framework_version": version,
        "class": cls,
        "input_schema": schema,
        "training_data": _describe.training_data(store, run_id),
        "environment": _describe.environment(),
    }
    ref = for_store(store).log(
        run_id,
        data,
        name,
        write=write,
        kind=MODEL_KIND,
        media_type=_formats.MEDIA_TYPES[fmt],
        meta=meta,
    )
    return ModelRef.from_artifact(ref)


def load_model(
    ref: object, *, trusted: bool | Sequence[str] = False, store: BaseStore | None = None
) -> Any:
    """Load a logged or registered model, after checking its bytes against their digests.

    Example::

        model = tracker.load_model("models:/digits@champion")
        model.predict(X_test)

    Args:
        ref: A :class:`~tracker.records.ModelRef`, a :class:`~tracker.records.ModelVersion`,
            ``"runs:/<run_id>/<name>"``, ``"models:/<name>/<version>"`` (or ``latest``) or
            ``"models:/<name>@<alias>"``.
        trusted: For a skops model, further type names to trust (scikit-learn, numpy and
            scipy classes are trusted already), or ``True`` for all; a pickle model needs
            ``True``.
        store: The store (default: the process's store).

    Returns:
        The model object.

    Raises:
        IntegrityError: the stored bytes differ from what was logged (nothing is loaded).
        UntrustedModelError: a pickle without ``trusted=True``, or untrusted types (listed).
        ModelNotFoundError: no such registered model, version or alias.
        ArtifactNotFoundError: no such logged model, or its blob is missing.
        ValidationError: a malformed reference.
    """
    from tracker.models import _formats
    from tracker.models._refs import resolve_artifact
    from tracker.store.artifacts import for_store

    st = store or get_store()
    artifact, what = resolve_artifact(st, ref)
    data = for_store(st).load_bytes(artifact)  # verifies both digests first
    fmt = str(artifact.meta.get("format", "skops"))
    return _formats.loads(data, fmt, f"model {what}", trusted)


def check_reason(reason: object) -> str | None:
    """A registry event's reason: text of at most :data:`MAX_REASON` characters, or ``None``."""
    if reason is None:
        return None
    if not isinstance(reason, str):
        raise ValidationError(f"reason must be a string, not {type(reason).__name__}")
    return check_text("reason", reason, MAX_REASON)


def register_model(
    ref: object, name: str, *, reason: str | None = None, store: BaseStore | None = None
) -> ModelVersion:
    """Register a logged model as the next version of ``name`` (1, 2, ...).

    The version pins the model's digest: it always loads these bytes, even if a model of
    the same name is logged on the run again.

    Args:
        ref: What ``log_model`` returned, or ``"runs:/<run_id>/<name>"`` (or a version of
            another registered model).
        name: The registered model's name (no ``/`` or ``@``).
        reason: Why, kept in the history.
        store: The store (default: the process's store).

    Returns:
        The new :class:`~tracker.records.ModelVersion`.

    Raises:
        ValidationError: a bad name or reference (nothing is written).
        ArtifactNotFoundError: no such logged model.
        StoreUnavailableError: the database cannot be reached (nothing is written).
    """
    from tracker.models._refs import check_model_name, resolve_artifact
    from tracker.store.artifacts import for_store

    model_name = check_model_name(name)
    why = check_reason(reason)
    st = store or get_store()
    # A model logged to a remote root is recorded once its upload ends: wait for it, so
    # that "runs:/..." finds it and the version names a recorded artifact.
    for_store(st).flush(timeout=60.0)
    artifact, _ = resolve_artifact(st, ref)
    return st.register_model_version(
        model_name,
        run_id=artifact.run_id,
        model_name=artifact.name,
        digest=artifact.digest,
        sha256=artifact.sha256,
        meta=artifact.meta,
        who=who(),
        reason=why,
    )


def set_alias(
    name: str,
    alias: str,
    version: int | None,
    *,
    reason: str | None = None,
    store: BaseStore | None = None,
) -> RegistryEvent:
    """Point ``alias`` of a registered model at ``version`` (``None`` removes the alias).

    This moves the alias unconditionally; :func:`tracker.promote` moves it only when
    requirements hold.

    Returns:
        The :class:`~tracker.records.RegistryEvent` recorded.

    Raises:
        ModelNotFoundError: no such model or version (nothing is written).
        ValidationError: a bad name, alias or version.
    """
    from tracker.models._refs import check_alias, check_model_name

    model_name, label = check_model_name(name), check_alias(alias)
    if version is not None and (
        isinstance(version, bool) or not isinstance(version, int) or version < 1
    ):
        raise ValidationError(f"version must be a positive integer or None, not {version!r:.40}")
    why = check_reason(reason)
    st = store or get_store()
    return st.set_model_alias(model_name, label, version, who=who(), reason=why)


def get_model_version(ref: object, *, store: BaseStore | None = None) -> ModelVersion:
    """A registered version: ``"name@alias"``, ``"name/3"``, ``"name/latest"`` (or ``models:/...``).

    Raises:
        ModelNotFoundError: no such model, version or alias (lists what exists).
        ValidationError: a malformed reference.
    """
    from tracker.models._refs import find_version, parse_version_ref

    if isinstance(ref, ModelVersion):
        ref = ref.uri
    return find_version(store or get_store(), parse_version_ref(ref))


def list_models(*, store: BaseStore | None = None) -> list[RegisteredModel]:
    """Every registered model with its latest version and aliases, by name."""
    by_name: dict[str, list[ModelVersion]] = {}
    for v in (store or get_store()).model_versions():
        by_name.setdefault(v.name, []).append(v)
    return [
        RegisteredModel(
            name=name,
            latest_version=vs[-1].version,
            versions=len(vs),
            aliases={a: v.version for v in vs for a in v.aliases},
            created=vs[0].created,
            updated=vs[-1].created,
        )
        for name, vs in sorted(by_name.items())
    ]


def model_history(name: str, *, store: BaseStore | None = None) -> list[RegistryEvent]:
    """Every registry event of ``name``, oldest first: registrations, alias moves, refusals."""
    from tracker.models._refs import check_model_name

    return (store or get_store()).registry_events(check_model_name(name))
