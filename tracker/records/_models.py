"""Models and the registry: a logged model, a registered version, a registry event.

A logged model is an artifact of kind ``"model"`` whose ``meta`` holds what loading and
a card need (format, framework, input schema, training data, environment); a
:class:`ModelRef` is that artifact seen as a model. A :class:`ModelVersion` pins one such
artifact, by digest, under a registered name and a number. Every change to the registry
is a :class:`RegistryEvent` (docs/models.md, "Registry").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tracker.records._data import ArtifactRef

__all__ = ["MODEL_KIND", "ModelRef", "ModelVersion", "RegisteredModel", "RegistryEvent"]

#: The artifact kind of a logged model.
MODEL_KIND = "model"


@dataclass(frozen=True, slots=True)
class ModelRef:
    """A model logged on a run (``run.log_model``); load it with ``tracker.load_model``.

    Attributes:
        artifact: The artifact that holds the saved model.
        format: ``"skops"`` (no pickle) or ``"pickle"`` (loading needs ``trusted=True``).
        framework: The distribution the model comes from (``"scikit-learn"``).
        framework_version: Its version when the model was logged.
        model_class: The model's qualified class name.
        input_schema: What the model takes, inferred from ``input_example``
            (``{"type": "dataframe", "columns": [{"name", "dtype"}]}`` or
            ``{"type": "ndarray", "shape", "dtype"}``), or ``None``.
        training_data: The data refs known from the run and its parents
            (``{"name", "digest", "kind", "run_id", "role"}`` each).
        environment_id: A digest of the Python version, platform and imported packages.
    """

    artifact: ArtifactRef
    format: str
    framework: str | None
    framework_version: str | None
    model_class: str
    input_schema: Mapping[str, Any] | None = None
    training_data: tuple[Mapping[str, Any], ...] = ()
    environment_id: str | None = None

    @property
    def run_id(self) -> str:
        """The run the model was logged on."""
        return self.artifact.run_id

    @property
    def name(self) -> str:
        """Its name on the run."""
        return self.artifact.name

    @property
    def digest(self) -> str:
        """xxh3-128 of the saved bytes."""
        return self.artifact.digest

    @property
    def uri(self) -> str:
        """``runs:/<run_id>/<name>``, what ``tracker.load_model`` and ``register_model`` take."""
        return self.artifact.uri

    @classmethod
    def from_artifact(cls, a: ArtifactRef) -> ModelRef:
        """The model an artifact record of kind ``"model"`` holds."""
        meta = a.meta
        return cls(
            artifact=a,
            format=str(meta.get("format", "skops")),
            framework=meta.get("framework"),
            framework_version=meta.get("framework_version"),
            model_class=str(meta.get("class", "")),
            input_schema=meta.get("input_schema"),
            training_data=tuple(meta.get("training_data") or ()),
            environment_id=(meta.get("environment") or {}).get("id"),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "uri": self.uri,
            "artifact": self.artifact.to_dict(),
            "format": self.format,
            "framework": self.framework,
            "framework_version": self.framework_version,
            "model_class": self.model_class,
            "input_schema": self.input_schema,
            "training_data": [dict(d) for d in self.training_data],
            "environment_id": self.environment_id,
        }

    def __repr__(self) -> str:
        return (
            f"<ModelRef {self.uri} {self.model_class.rsplit('.', 1)[-1]} {self.format} "
            f"{self.artifact.short}>"
        )


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One version of a registered model: a logged model pinned by its digest.

    Attributes:
        name: The registered model's name.
        version: 1, 2, ... in registration order.
        run_id: The run the model was logged on.
        model_name: The model's artifact name on that run.
        digest: xxh3-128 of the saved model (the version always loads these bytes).
        sha256: SHA-256 of the same bytes.
        created: When it was registered.
        created_by: Who registered it.
        aliases: The aliases that point at it now (``"champion"``...).
        meta: The model's metadata as logged (format, framework, input schema...).
    """

    name: str
    version: int
    run_id: str
    model_name: str
    digest: str
    sha256: str
    created: datetime
    created_by: str
    aliases: tuple[str, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def uri(self) -> str:
        """``models:/<name>/<version>``."""
        return f"models:/{self.name}/{self.version}"

    @property
    def source(self) -> str:
        """``runs:/<run_id>/<model_name>``: the logged model it pins."""
        return f"runs:/{self.run_id}/{self.model_name}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "name": self.name,
            "version": self.version,
            "uri": self.uri,
            "source": self.source,
            "run_id": self.run_id,
            "model_name": self.model_name,
            "digest": self.digest,
            "sha256": self.sha256,
            "created": self.created.isoformat(),
            "created_by": self.created_by,
            "aliases": list(self.aliases),
            "meta": dict(self.meta),
        }

    def __repr__(self) -> str:
        tags = f" @{',@'.join(self.aliases)}" if self.aliases else ""
        return f"<ModelVersion {self.name}/{self.version}{tags} run={self.run_id[:12]}>"


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    """A registered model name with its versions and aliases (``tracker.list_models``).

    Attributes:
        name: The name.
        latest_version: The highest version number.
        versions: How many versions it has.
        aliases: Alias -> version.
        created: When version 1 was registered.
        updated: When the latest version was registered.
    """

    name: str
    latest_version: int
    versions: int
    aliases: Mapping[str, int]
    created: datetime
    updated: datetime

    def __repr__(self) -> str:
        aliases = " ".join(f"@{a}={v}" for a, v in sorted(self.aliases.items()))
        return (
            f"<RegisteredModel {self.name!r} versions={self.versions} "
            f"latest={self.latest_version}{' ' + aliases if aliases else ''}>"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "name": self.name,
            "latest_version": self.latest_version,
            "versions": self.versions,
            "aliases": dict(self.aliases),
            "created": self.created.isoformat(),
            "updated": self.updated.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class RegistryEvent:
    """Something that happened in the registry, kept as history.

    Attributes:
        id: Event id.
        name: The registered model.
        action: ``"register"``, ``"set_alias"``, ``"remove_alias"``, ``"promote"`` or
            ``"promotion_refused"``.
        version: The version concerned.
        alias: The alias concerned, if any.
        previous: The version the alias pointed at before (``None``: it was unset).
        who: Who did it (the OS user, or ``TRACKER_USER``).
        timestamp: When.
        reason: Why, as the caller said.
        detail: The requirements judged (``{"requirements": [{"requirement", "held",
            "detail"}]}``) and other facts.
    """

    id: str
    name: str
    action: str
    version: int | None
    alias: str | None
    previous: int | None
    who: str
    timestamp: datetime
    reason: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "id": self.id,
            "name": self.name,
            "action": self.action,
            "version": self.version,
            "alias": self.alias,
            "previous": self.previous,
            "who": self.who,
            "timestamp": self.timestamp.isoformat(),
            "reason": self.reason,
            "detail": dict(self.detail),
        }
