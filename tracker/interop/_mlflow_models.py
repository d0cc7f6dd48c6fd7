"""MLflow's model registry into ours: registered models, their versions and aliases.

Each MLflow version's model files are downloaded through MLflow's client, its saved
model (the ``sklearn`` flavor's file, or any flavor's single ``*.pkl``) is stored as a
model artifact of the version's run, and the whole MLflow model directory is kept beside
it as an artifact (``<name>.mlflow``), so nothing of what MLflow stored is lost. A model
MLflow saved with skops (its default since 3.x) loads with ``tracker.load_model`` like
ours; a pickle (``cloudpickle``, older MLflow) needs ``trusted=True``, since it runs code.

Versions keep MLflow's numbers and creation times, aliases their targets; a register
event per version says it came from MLflow. All of it goes through the store's
``import_registry``, which is idempotent: a second import adds nothing. A version whose
files cannot be read, or whose run was not imported, is listed in the report's
``skipped`` with the reason.
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracker.exceptions import TrackerError
from tracker.models._refs import check_alias, check_model_name
from tracker.records import MODEL_KIND, ModelVersion, RegistryEvent, from_timestamp
from tracker.store import BaseStore
from tracker.store.artifacts import for_store

if TYPE_CHECKING:
    from tracker.interop.mlflow import MlflowImport

__all__ = ["import_registry"]

_NS = uuid.UUID("5b1e8f3c-9a4d-4c1e-8f7a-2d6b0e9c4a11")  # event ids from MLflow's names
_MEDIA = {"skops": "application/x-skops", "pickle": "application/x-pickle"}


def _pickle_of(model_dir: Path) -> tuple[Path, dict[str, Any]] | None:
    """The pickled model file of an MLflow model directory and what MLmodel says of it."""
    from mlflow.models import Model

    try:
        mlmodel = Model.load(str(model_dir))
    except Exception:  # not an MLflow model directory: say so by None
        return None
    flavors: dict[str, Any] = dict(mlmodel.flavors or {})
    sk = flavors.get("sklearn") or {}
    name = sk.get("pickled_model")
    if name is None:
        pickles = sorted(model_dir.rglob("*.pkl"))  # another flavor's pickle
        if len(pickles) != 1:
            return None
        path = pickles[0]
    else:
        path = model_dir / str(name)
    info = {
        "framework": "scikit-learn" if sk else None,
        "framework_version": sk.get("sklearn_version"),
        "serialization": sk.get("serialization_format"),
        "flavors": sorted(flavors),
    }
    return (path, info) if path.is_file() else None


def _files_of(client: Any, source: str) -> str:
    """Where a version's files are, as a URI ``download_artifacts`` can read.

    MLflow 3's ``models:/m-<id>`` names a logged model, whose artifact location the client
    knows (``download_artifacts`` would look it up in the process's default tracking
    store instead of ``client``'s).
    """
    model_id = source.removeprefix("models:/")
    if source.startswith("models:/m-") and "/" not in model_id:
        return str(client.get_logged_model(model_id).artifact_location)
    return source


def _import_version(
    client: Any, store: BaseStore, mv: Any, uri: str, report: MlflowImport
) -> ModelVersion | None:
    import mlflow.artifacts

    what = f"MLflow model {mv.name!r} version {mv.version}"
    run_id = str(mv.run_id or "")
    try:
        store.get_run(run_id)
    except TrackerError:
        report.skipped.append(f"{what}: its run {run_id or '(none)'} was not imported")
        return None
    created = (mv.creation_timestamp or 0) / 1000.0
    with tempfile.TemporaryDirectory(prefix="tracker-mlflow-model-") as tmp:
        try:
            local = Path(
                mlflow.artifacts.download_artifacts(
                    artifact_uri=_files_of(client, str(mv.source)), dst_path=tmp, tracking_uri=uri
                )
            )
        except Exception as exc:  # any client error: reported, not raised
            report.skipped.append(f"{what}: its files could not be read ({exc})"[:300])
            return None
        found = _pickle_of(local)
        if found is None:
            report.skipped.append(f"{what}: no single pickled model in {mv.source}")
            return None
        pkl, info = found
        # MLflow 3 saves scikit-learn models with skops by default (loadable here without
        # running code from the file); older ones, or serialization_format="cloudpickle",
        # are pickles, which load only with trusted=True.
        fmt = "skops" if info["serialization"] == "skops" else "pickle"
        name = f"mlflow-{check_model_name(mv.name)}-v{mv.version}"
        artifacts = for_store(store)
        artifacts.log(run_id, local, f"{name}.mlflow", write=store.write, timestamp=created)
        meta = {
            "format": fmt,
            "framework": info["framework"],
            "framework_version": info["framework_version"],
            "class": "",
            "mlflow": {"source": str(mv.source), "version": int(mv.version), **info},
        }
        ref = artifacts.log(
            run_id,
            pkl.read_bytes(),
            name,
            write=store.write,
            kind=MODEL_KIND,
            media_type=_MEDIA[fmt],
            meta=meta,
            timestamp=created,
        )
    return ModelVersion(
        name=str(mv.name),
        version=int(mv.version),
        run_id=run_id,
        model_name=ref.name,
        digest=ref.digest,
        sha256=ref.sha256,
        created=from_timestamp(created),
        created_by=str(mv.user_id or "mlflow"),
        meta=meta,
    )


def import_registry(client: Any, store: BaseStore, uri: str, report: MlflowImport) -> None:
    """Import every registered model of ``client``'s tracking store into ``store``."""
    versions: list[ModelVersion] = []
    aliases: list[tuple[str, str, int]] = []
    events: list[RegistryEvent] = []
    for rm in client.search_registered_models():
        check_model_name(rm.name)
        kept: set[int] = set()
        for mv in sorted(
            client.search_model_versions(f"name='{rm.name}'"), key=lambda v: int(v.version)
        ):
            version = _import_version(client, store, mv, uri, report)
            if version is None:
                continue
            kept.add(version.version)
            versions.append(version)
            events.append(
                RegistryEvent(
                    id=str(uuid.uuid5(_NS, f"{uri}\0{rm.name}\0{mv.version}\0register")),
                    name=version.name,
                    action="register",
                    version=version.version,
                    alias=None,
                    previous=None,
                    who=version.created_by,
                    timestamp=version.created,
                    reason=f"imported from MLflow ({mv.source})"[:500],
                )
            )
        for alias, number in dict(getattr(rm, "aliases", None) or {}).items():
            if int(number) in kept:
                aliases.append((str(rm.name), check_alias(alias), int(number)))
        if kept:
            report.models += 1
    store.flush()  # the model artifacts' records before the versions that name them
    report.versions += store.import_registry(versions, aliases, events)
