"""Models as tracked things: log, load, register (docs/models.md, "Models" and "Registry").

* ``_api``: ``log_model`` (what ``run.log_model`` calls), ``load_model``, and the registry:
  ``register_model``, ``set_alias``, ``get_model_version``, ``list_models``,
  ``model_history``.
* ``_formats``: skops (no pickle; the only importer of skops) and pickle; which types a
  load trusts. ``_canonical``: the same model always saves to the same bytes.
* ``_describe``: framework, input schema, environment id and training data of a model.
* ``_refs``: ``runs:/`` and ``models:/`` references and registry names.

Gated promotion (``tracker.promote``) judges requirements on searches and cards, which sit
above the run API, so it lives in :mod:`tracker.promotion`. This package sits below the
run API (``run.log_model`` calls it) and reads and writes only through the store.
"""

from __future__ import annotations

from tracker.models._api import (
    check_reason,
    get_model_version,
    list_models,
    load_model,
    log_model,
    model_history,
    register_model,
    set_alias,
    who,
)
from tracker.models._refs import (
    VersionRef,
    check_alias,
    check_model_name,
    find_version,
    parse_version_ref,
    resolve_artifact,
)

__all__ = [
    "VersionRef",
    "check_alias",
    "check_model_name",
    "check_reason",
    "find_version",
    "get_model_version",
    "list_models",
    "load_model",
    "log_model",
    "model_history",
    "parse_version_ref",
    "register_model",
    "resolve_artifact",
    "set_alias",
    "who",
]
