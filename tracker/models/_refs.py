"""Model references: parse ``runs:/``, ``models:/`` and registry names; find what they name.

=================================  ==========================================================
``ModelRef``                       what ``log_model`` returned
``ModelVersion``                   what the registry returned
``"runs:/<run_id>/<name>"``        the latest model logged under that name on that run
``"models:/<name>/<version>"``     a registered version (``latest``: the highest)
``"models:/<name>@<alias>"``       the version an alias points at now
=================================  ==========================================================

``get_model_version`` also takes the registry forms without the prefix: ``"name/3"``,
``"name@champion"``.
"""

from __future__ import annotations

from dataclasses import dataclass

from tracker.exceptions import ArtifactNotFoundError, ModelNotFoundError, ValidationError
from tracker.records import MODEL_KIND, ArtifactRef, ModelRef, ModelVersion
from tracker.store import BaseStore
from tracker.store.validation import MAX_KEY, MAX_NAME, check_key

__all__ = [
    "VersionRef",
    "check_alias",
    "check_model_name",
    "find_version",
    "parse_version_ref",
    "resolve_artifact",
]

_FORMS = (
    "a ModelRef, a ModelVersion, 'runs:/<run_id>/<name>', 'models:/<name>/<version>' or "
    "'models:/<name>@<alias>'"
)


@dataclass(frozen=True, slots=True)
class VersionRef:
    """A registered model and a version number, ``"latest"``, or an alias."""

    name: str
    version: int | None = None
    alias: str | None = None
    latest: bool = False

    def __str__(self) -> str:
        if self.alias is not None:
            return f"models:/{self.name}@{self.alias}"
        return f"models:/{self.name}/{'latest' if self.latest else self.version}"


def check_model_name(name: object) -> str:
    """A registered model's name: a key without ``/`` or ``@`` (they delimit references).

    Raises:
        ValidationError: names the rule.
    """
    text = check_key("registered model", name, MAX_KEY)
    if "/" in text or "@" in text or text != text.strip():
        raise ValidationError(
            f"registered model name {text!r:.60} may not contain '/' or '@' or surrounding "
            "spaces (they separate versions and aliases in 'models:/name/3' and 'name@alias')"
        )
    return text


def check_alias(alias: object) -> str:
    """An alias: a key without ``/`` or ``@``, not only digits (that reads as a version).

    Raises:
        ValidationError: names the rule.
    """
    text = check_key("alias", alias, MAX_KEY)
    if "/" in text or "@" in text or text.isdigit() or text == "latest" or text != text.strip():
        raise ValidationError(
            f"alias {text!r:.60} may not contain '/' or '@', be only digits or be 'latest' "
            "(those read as versions); use a word such as 'champion' or 'staging'"
        )
    return text


def parse_version_ref(ref: object) -> VersionRef:
    """Parse ``"models:/name/3"``, ``"models:/name@alias"``, ``"name/3"`` or ``"name@alias"``.

    Raises:
        ValidationError: another form (the message shows the accepted ones).
    """
    if not isinstance(ref, str):
        raise ValidationError(f"a model version reference is a string, not {type(ref).__name__}")
    text = ref[len("models:/") :] if ref.startswith("models:/") else ref
    if "@" in text:
        name, _, alias = text.partition("@")
        return VersionRef(check_model_name(name), alias=check_alias(alias))
    name, sep, version = text.rpartition("/")
    if sep and version == "latest":
        return VersionRef(check_model_name(name), latest=True)
    if sep and version.isdigit() and int(version) > 0:
        return VersionRef(check_model_name(name), version=int(version))
    raise ValidationError(
        f"{ref!r:.80} is not a model version reference; write 'models:/<name>/<version>', "
        "'models:/<name>@<alias>' (or 'name/3', 'name@champion')"
    )


def find_version(store: BaseStore, ref: VersionRef) -> ModelVersion:
    """The version ``ref`` names.

    Raises:
        ModelNotFoundError: no such model, version or alias (lists what exists).
    """
    versions = store.model_versions(ref.name)
    if not versions:
        names = sorted({v.name for v in store.model_versions()})
        listing = f"registered models: {', '.join(names[:20])}" if names else "none is registered"
        raise ModelNotFoundError(
            f"no registered model named {ref.name!r} ({listing}); register one with "
            "tracker.register_model(model_ref, name)"
        )
    if ref.latest:
        return versions[-1]
    if ref.alias is not None:
        for v in versions:
            if ref.alias in v.aliases:
                return v
        aliases = sorted({a for v in versions for a in v.aliases})
        listing = f"its aliases: {', '.join(aliases)}" if aliases else "it has no aliases"
        raise ModelNotFoundError(
            f"{ref.name!r} has no alias {ref.alias!r} ({listing}); set one with "
            f"tracker.set_alias({ref.name!r}, {ref.alias!r}, version)"
        )
    for v in versions:
        if v.version == ref.version:
            return v
    raise ModelNotFoundError(
        f"{ref.name!r} has no version {ref.version}; its versions are 1 to {versions[-1].version}"
    )


def _model_artifact(a: ArtifactRef) -> ArtifactRef:
    if a.kind != MODEL_KIND:
        raise ValidationError(
            f"artifact {a.name!r} of run {a.run_id} is a {a.kind} artifact, not a model logged "
            "with log_model; load it with tracker.load_artifact"
        )
    return a


def _version_artifact(store: BaseStore, v: ModelVersion) -> ArtifactRef:
    for a in reversed(store.artifacts(run_id=v.run_id, name=v.model_name)):
        if a.digest == v.digest:
            return _model_artifact(a)
    # The version pins the bytes by both digests and keeps the model's meta, which is all
    # a verified load needs: the blob is found (and checked) by its digest alone.
    return ArtifactRef(
        run_id=v.run_id,
        name=v.model_name,
        digest=v.digest,
        sha256=v.sha256,
        size=0,
        media_type="application/octet-stream",
        kind=MODEL_KIND,
        created=v.created,
        meta=dict(v.meta),
    )


def resolve_artifact(store: BaseStore, ref: object) -> tuple[ArtifactRef, str]:
    """The model artifact ``ref`` names, and how to name it in messages.

    Raises:
        ValidationError: a malformed reference, or an artifact that is not a model.
        ArtifactNotFoundError: no such logged model.
        ModelNotFoundError: no such registered model, version or alias.
    """
    if isinstance(ref, ModelRef):
        return _model_artifact(ref.artifact), ref.uri
    if isinstance(ref, ModelVersion):
        return _version_artifact(store, ref), ref.uri
    if isinstance(ref, ArtifactRef):
        return _model_artifact(ref), ref.uri
    if isinstance(ref, str) and ref.startswith("runs:/"):
        run_id, _, name = ref[len("runs:/") :].partition("/")
        if not run_id or not name:
            raise ValidationError(
                f"{ref!r:.80} names no run and model: use 'runs:/<run_id>/<name>'"
            )
        check_key("model", name, MAX_NAME)
        found = store.artifacts(run_id=run_id, name=name)
        if not found:
            models = sorted(
                {a.name for a in store.artifacts(run_id=run_id) if a.kind == MODEL_KIND}
            )
            listing = f"its models: {', '.join(models[:20])}" if models else "it has no models"
            raise ArtifactNotFoundError(f"run {run_id} has no model named {name!r}; {listing}")
        return _model_artifact(found[-1]), ref
    if isinstance(ref, str) and ref.startswith("models:/"):
        version = find_version(store, parse_version_ref(ref))
        return _version_artifact(store, version), ref
    raise ValidationError(f"a model reference is {_FORMS}, not {ref!r:.80}")
