"""Metric measurements and references to data and artifacts by content."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tracker.display import (
    clip,
    html_fields,
    html_table,
    html_view,
    human_bytes,
    one_line,
)
from tracker.records._values import (
    float_to_json,
)


@dataclass(frozen=True, slots=True)
class Metric:
    """One measurement of a metric.

    Attributes:
        key: Metric name.
        value: The value; NaN and the infinities are kept as they are.
        step: Optional step (epoch, iteration); ``None`` for a single value.
        timestamp: When it was logged.
    """

    key: str
    value: float
    step: int | None
    timestamp: datetime

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "key": self.key,
            "value": float_to_json(self.value),
            "step": self.step,
            "timestamp": self.timestamp.isoformat(),
        }


#: Headers of :meth:`DataRef.row`.
DATA_HEADERS = ["name", "kind", "shape", "rows", "digest", "partial"]


@dataclass(frozen=True, slots=True)
class DataRef:
    """A content hash of a piece of data, with enough shape to recognise it.

    Attributes:
        algorithm: Hash algorithm, e.g. ``"xxh3-128"``.
        digest: Hex digest. Equal content (values, dtypes, shape, column names, index)
            gives an equal digest on every machine.
        kind: ``"ndarray"``, ``"dataframe"``, ``"series"``, ``"bytes"``, ``"file"``,
            ``"directory"`` or ``"object"``.
        nbytes: Number of bytes hashed.
        shape: Shape, if the data has one.
        dtypes: Column name (or ``""`` for arrays and series) to dtype string.
        rows: Number of rows, if the data has rows.
        nulls: Column name to number of missing values, where that is defined.
        partial: ``True`` when not all of the content went into the digest (and the
            reason is in ``profile["partial_reason"]``).
        path: For files and directories, the path as given (absolute).
        profile: A small summary used to explain differences between two versions
            (per-column min/max/mean, file counts...). Never needed for identity.
    """

    algorithm: str
    digest: str
    kind: str
    nbytes: int
    shape: tuple[int, ...] | None = None
    dtypes: Mapping[str, str] | None = None
    rows: int | None = None
    nulls: Mapping[str, int] | None = None
    partial: bool = False
    path: str | None = None
    profile: Mapping[str, Any] | None = None

    @property
    def short(self) -> str:
        """The first 12 hex digits of the digest, for display."""
        return self.digest[:12]

    @property
    def shape_text(self) -> str:
        """``150x5`` (empty without a shape)."""
        return "x".join(str(n) for n in self.shape) if self.shape is not None else ""

    def __repr__(self) -> str:
        return one_line(
            "DataRef",
            self.kind,
            self.shape_text,
            f"{self.algorithm}:{self.short}",
            human_bytes(self.nbytes),
            "partial" if self.partial else None,
            repr(clip(self.path, 60)) if self.path else None,
        )

    def _repr_html_(self) -> str:
        reason = (self.profile or {}).get("partial_reason") if self.partial else None
        fields = [
            ("digest", f"{self.algorithm}:{self.digest}"),
            ("rows", self.rows),
            ("bytes hashed", human_bytes(self.nbytes)),
            ("partial", reason or ("yes" if self.partial else None)),
            ("path", self.path),
        ]
        nulls = self.nulls or {}
        columns = [(c, t, nulls.get(c)) for c, t in (self.dtypes or {}).items()]
        return html_view(
            f"DataRef {self.kind}",
            self.shape_text,
            [
                ("", html_fields(fields)),
                ("columns", html_table(columns[:40], ["column", "dtype", "nulls"])),
            ],
        )

    def row(self, name: str) -> list[Any]:
        """This reference as a table row under ``name`` (see :data:`DATA_HEADERS`)."""
        return [name, self.kind, self.shape_text, self.rows, self.short, self.partial or None]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (round-trips through :meth:`from_dict`)."""
        return {
            "algorithm": self.algorithm,
            "digest": self.digest,
            "kind": self.kind,
            "nbytes": self.nbytes,
            "shape": list(self.shape) if self.shape is not None else None,
            "dtypes": dict(self.dtypes) if self.dtypes is not None else None,
            "rows": self.rows,
            "nulls": dict(self.nulls) if self.nulls is not None else None,
            "partial": self.partial,
            "path": self.path,
            "profile": dict(self.profile) if self.profile is not None else None,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DataRef:
        """Build from :meth:`to_dict` output."""
        shape = d.get("shape")
        return cls(
            algorithm=str(d["algorithm"]),
            digest=str(d["digest"]),
            kind=str(d["kind"]),
            nbytes=int(d["nbytes"]),
            shape=tuple(int(x) for x in shape) if shape is not None else None,
            dtypes=d.get("dtypes"),
            rows=d.get("rows"),
            nulls=d.get("nulls"),
            partial=bool(d.get("partial", False)),
            path=d.get("path"),
            profile=d.get("profile"),
        )


@dataclass(frozen=True, slots=True)
class ArtifactRef:
    """A file, directory, text or figure logged on a run, stored by its content.

    The bytes live once in the artifact root, named by their xxh3-128 digest (the same
    digest :func:`tracker.hash_data` gives the file, so a copy found anywhere can be traced
    back); the SHA-256 is kept to check them against when they are loaded.

    Attributes:
        run_id: The run it was logged on.
        name: Its name on the run (``"model.skops"``, ``"plots/roc.png"``).
        digest: xxh3-128 of the bytes (32 hex digits); for a directory, of its manifest.
        sha256: SHA-256 of the same bytes (64 hex digits).
        size: Bytes (for a directory, the total of its files).
        media_type: e.g. ``"image/png"``, ``"text/plain"``, ``"application/octet-stream"``.
        kind: ``"file"``, ``"bytes"``, ``"text"``, ``"figure"`` or ``"directory"``.
        created: When it was logged.
        meta: Extra facts written by the subsystem that logged it (a model's framework,
            a directory's file count...).
    """

    run_id: str
    name: str
    digest: str
    sha256: str
    size: int
    media_type: str
    kind: str
    created: datetime
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def uri(self) -> str:
        """``runs:/<run_id>/<name>``, what :func:`tracker.load_artifact` takes."""
        return f"runs:/{self.run_id}/{self.name}"

    @property
    def short(self) -> str:
        """The first 12 hex digits of the digest, for display."""
        return self.digest[:12]

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (round-trips through :meth:`from_dict`)."""
        return {
            "run_id": self.run_id,
            "name": self.name,
            "digest": self.digest,
            "sha256": self.sha256,
            "size": self.size,
            "media_type": self.media_type,
            "kind": self.kind,
            "created": self.created.isoformat(),
            "meta": dict(self.meta),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ArtifactRef:
        """Build from :meth:`to_dict` output."""
        return cls(
            run_id=str(d["run_id"]),
            name=str(d["name"]),
            digest=str(d["digest"]),
            sha256=str(d["sha256"]),
            size=int(d["size"]),
            media_type=str(d["media_type"]),
            kind=str(d["kind"]),
            created=datetime.fromisoformat(str(d["created"])),
            meta=dict(d.get("meta") or {}),
        )
