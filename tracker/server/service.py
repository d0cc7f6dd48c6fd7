"""What each API route does, without HTTP: parse arguments, read or write the store, shape JSON.

The handlers call these methods on a worker thread (store calls block), pass in the
raw query arguments and the decoded JSON body, and turn :class:`ApiError` and
:class:`~tracker.exceptions.TrackerError` into JSON error responses. Keeping this layer
free of tornado makes it testable and keeps the HTTP details in one module.

Which store: :class:`StoreHolder` resolves it once (server setting, else
``TRACKER_STORE``, else the project default under the server's root directory) and
opens a direct :class:`~tracker.store.SQLStore` lazily. A SQLite file that does not
exist yet is not created by looking at it: the API answers as for an empty store
until a kernel writes the first run.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tracker._version import __version__
from tracker.config import ENV_STORE, StoreURL, default_store_path, resolve_store_url, spool_dir
from tracker.exceptions import TrackerError, ValidationError
from tracker.records import RunKind, RunStatus
from tracker.server import cards, serialize
from tracker.server.errors import ApiError
from tracker.server.lineage import compute_lineage
from tracker.store import (
    BaseStore,
    Condition,
    Cursor,
    OrderBy,
    RunQuery,
    open_store,
    parse_filter,
    parse_order_by,
    validation,
)
from tracker.store.ops import Op, SetRunFields, SetTags
from tracker.store.rejected import count_rejected

__all__ = ["API_VERSION", "MAX_LIMIT", "Args", "StoreHolder", "TrackerService", "check_run_id"]

API_VERSION = 1
#: Largest page the list routes return (the panel asks for windows of ~100 rows).
MAX_LIMIT = 1000
MAX_COMPARE = 50
# The write limits are the store's (tracker.store.validation), so the panel can never save
# what the run API would refuse; the ops built below check the rest of the rules (no NUL,
# no lone surrogates) and raise ValidationError, a 400.
MAX_NAME = validation.MAX_NAME
MAX_NOTES = validation.MAX_NOTES
MAX_TAG_KEY = validation.MAX_KEY
MAX_TAG_VALUE = validation.MAX_TAG_VALUE
_KINDS = {k.value for k in RunKind}
_STATUSES = {s.value for s in RunStatus}


class Args:
    """Query arguments as tornado gives them (name -> list of values), with checked getters."""

    def __init__(self, raw: Mapping[str, Sequence[str]]) -> None:
        self._raw = {k: [str(v) for v in vs] for k, vs in raw.items()}

    def get_str(self, name: str, default: str | None = None) -> str | None:
        """The last value of ``name``, or ``default``."""
        vals = self._raw.get(name)
        return vals[-1] if vals else default

    def get_list(self, name: str) -> list[str]:
        """Every value of ``name``, comma-separated values split, blanks dropped."""
        out: list[str] = []
        for v in self._raw.get(name, []):
            out += [p.strip() for p in v.split(",") if p.strip()]
        return out

    def get_int(self, name: str, default: int, low: int, high: int) -> int:
        """An integer in ``[low, high]``; anything else is a 400 naming the range."""
        text = self.get_str(name)
        if text is None or text == "":
            return default
        try:
            value = int(text)
        except ValueError:
            raise ApiError.bad_request(
                f"{name} must be an integer between {low} and {high}, not {text!r}"
            ) from None
        if not low <= value <= high:
            raise ApiError.bad_request(f"{name} must be between {low} and {high}, not {value}")
        return value

    def get_bool(self, name: str, default: bool = False) -> bool:
        """``1/true/yes`` or ``0/false/no``."""
        text = self.get_str(name)
        if text is None or text == "":
            return default
        if text.lower() in ("1", "true", "yes"):
            return True
        if text.lower() in ("0", "false", "no"):
            return False
        raise ApiError.bad_request(f"{name} must be true or false, not {text!r}")


class StoreHolder:
    """The server's store: resolved once, opened on first use, shared by worker threads.

    Args:
        setting: ``TrackerExtension.store_url`` (wins when set).
        root_dir: The server's root directory (where the project default is looked up).
    """

    def __init__(self, setting: str | None, root_dir: str | Path) -> None:
        if setting:
            self.url, self.configured_by = resolve_store_url(setting), "setting"
        elif os.environ.get(ENV_STORE):
            self.url, self.configured_by = resolve_store_url(None), "env"
        else:
            path = default_store_path(Path(root_dir).expanduser().resolve())
            self.url, self.configured_by = StoreURL.parse(path), "default"
        #: Where kernels on this machine keep their spool and the records the store
        #: refused (``TRACKER_SPOOL_DIR``, else ``.tracker/spool`` in the project).
        self.spool_dir = spool_dir(Path(root_dir).expanduser().resolve())
        self._store: BaseStore | None = None
        self._lock = threading.Lock()

    def exists(self) -> bool:
        """False only for a SQLite file not created yet."""
        return not (self.url.kind == "sqlite" and self.url.path and not self.url.path.exists())

    def get(self) -> BaseStore | None:
        """The open store, or ``None`` while its SQLite file does not exist."""
        if self._store is not None:
            return self._store
        if not self.exists():
            return None
        with self._lock:
            if self._store is None:
                self._store = open_store(self.url, queued=False)
            return self._store

    def require(self) -> BaseStore:
        """The open store, creating the SQLite file if needed (writes need one)."""
        store = self.get()
        if store is not None:
            return store
        with self._lock:
            if self._store is None:
                self._store = open_store(self.url, queued=False)
            return self._store

    def close(self) -> None:
        """Release the store's connections."""
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None


def _page(args: Args, default: int = 100) -> tuple[int, int]:
    limit = args.get_int("limit", default, 1, MAX_LIMIT)
    offset = args.get_int("offset", 0, 0, 10**9)
    return limit, offset


def _values(args: Args, name: str, allowed: set[str]) -> tuple[str, ...]:
    values = tuple(args.get_list(name))
    bad = [v for v in values if v not in allowed]
    if bad:
        raise ApiError.bad_request(
            f"unknown {name} {', '.join(repr(b) for b in bad)}; use {', '.join(sorted(allowed))}"
        )
    return values


def check_run_id(run_id: str) -> str:
    """``run_id`` when it can be a run id; a 400 naming it otherwise."""
    if not run_id or len(run_id) > 200 or any(c in run_id for c in "/\\\x00"):
        raise ApiError.bad_request(f"{run_id[:40]!r} is not a run id")
    return run_id


#: Conditions on these fields never change for a recorded run (a run's kind is fixed at
#: creation, and runs are never deleted), so their counts change only when runs are added.
_IMMUTABLE_FIELDS = frozenset({"kind", "id"})

#: Runs counted exactly before a runs page's total becomes an estimate ("about"). The
#: cost grows with the bound: at 100,000 runs, counting 200 matches of
#: "metrics.accuracy > 0.9 and params.kernel = 'rbf'" took 16 ms on PostgreSQL, 1,000
#: took 140 ms (its planner leaves the cheap nested loop for a hash join).
COUNT_BOUND = 200


class TrackerService:
    """The API's operations over one store (thread-safe: no per-request state)."""

    def __init__(self, holder: StoreHolder) -> None:
        self.holder = holder
        self._counts: dict[tuple[Condition, ...], tuple[int, int]] = {}
        self._counts_lock = threading.Lock()

    def _count(self, store: BaseStore, query: RunQuery) -> tuple[int, bool]:
        """``(n, exact)``: the count, exact up to :data:`COUNT_BOUND` matches.

        Beyond the bound the store estimates (the panel says "about"): an exact count of
        a broad filter walks every match. A count that depends on kinds only is reused
        while no run was added: the panel polls the same "every kind but trials" page
        every second, and when the store's total has not moved, neither has the answer.
        """
        conds = query.conditions
        if not conds or any(c.field not in _IMMUTABLE_FIELDS for c in conds):
            return store.count_runs_bounded(query, COUNT_BOUND)
        total = store.count_runs(RunQuery())
        with self._counts_lock:
            hit = self._counts.get(conds)
        if hit is not None and hit[0] == total:
            return hit[1], True
        n = store.count_runs(query)
        with self._counts_lock:
            if len(self._counts) > 256:
                self._counts.clear()
            self._counts[conds] = (total, n)
        return n, True

    # --- store --------------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """Kind, redacted URL, counts, and what this server can do."""
        store = self.holder.get()
        if store is None:
            desc: dict[str, Any] = {
                "kind": self.holder.url.kind,
                "url": self.holder.url.redacted(),
                "path": str(self.holder.url.path) if self.holder.url.path else None,
                "schema_revision": None,
                "server_version": None,
                "runs": 0,
                "runs_by_kind": {},
                "runs_by_status": {},
                "cells": 0,
            }
        else:
            desc = dict(store.describe())
        desc["url"] = self.holder.url.redacted()  # whatever describe() did, never a password
        # Records this store refused, set aside by processes on this machine (the panel's
        # footer shows the count; `tracker sync --rejected` lists and retries them).
        desc["rejected"] = count_rejected(self.holder.spool_dir, self.holder.url.identity)
        desc["exists"] = store is not None
        desc["configured_by"] = self.holder.configured_by
        desc["api_version"] = API_VERSION
        desc["tracker_version"] = __version__
        return dict(serialize.json_safe(desc))

    # --- runs ---------------------------------------------------------------------------

    def _query(self, args: Args, extra: Sequence[Condition] = ()) -> RunQuery:
        limit, offset = _page(args)
        try:
            conditions = list(parse_filter(args.get_str("filter")))
            kinds = _values(args, "kind", _KINDS)
            if kinds:
                conditions.append(Condition("kind", "in", kinds))
            exclude = _values(args, "exclude_kind", _KINDS)
            if exclude:
                conditions.append(Condition("kind", "not in", exclude))
            statuses = _values(args, "status", _STATUSES)
            if statuses:
                conditions.append(Condition("status", "in", statuses))
            parent = args.get_str("parent")
            if parent:
                conditions.append(Condition("parent_id", "=", check_run_id(parent)))
            q = (args.get_str("q") or "").strip()
            if q:
                escaped = q.replace("%", "").replace("_", "")
                conditions.append(Condition("name", "ilike", f"%{escaped}%"))
            order = args.get_list("order_by")
            order_by = parse_order_by(order) if order else (OrderBy("start_time", True),)
        except TrackerError as exc:  # ValidationError: a bad filter or order
            raise ApiError.bad_request(str(exc), code="invalid_query") from exc
        return RunQuery(
            conditions=tuple(conditions) + tuple(extra),
            order_by=order_by,
            limit=limit,
            offset=offset,
        )

    def run_query(self, args: Args) -> RunQuery:
        """The run query of ``filter``, ``kind``, ``status``... as ``GET /runs`` reads them.

        Raises:
            ApiError: 400 ``invalid_query`` for a filter or order the store refuses.
        """
        return self._query(args)

    def require_store(self) -> BaseStore:
        """The open store; a 404 while it has no runs yet."""
        return self._store()

    def list_runs(self, args: Args) -> dict[str, Any]:
        """A page of runs with the total that match, and the cursor of the next page.

        ``cursor`` (the ``next`` of the previous answer) pages by keyset: the page after
        that run, as cheap at page 10,000 as at page 1. It carries a check of the filter
        and order that gave it out, so one passed with another filter is refused (400)
        instead of silently skipping or repeating runs. ``offset`` keeps working.
        ``total_exact`` is false when ``total`` is an estimate (beyond ``COUNT_BOUND``).
        """
        # A row shows no attrs, artifacts or environment: the page skips reading them.
        query = dataclasses.replace(self._query(args), summary=True)
        token = args.get_str("cursor")
        if token:
            try:
                cursor = Cursor.from_token(token, query, name="cursor", given_as="next")
                query = dataclasses.replace(query, cursor=cursor)
            except TrackerError as exc:
                raise ApiError.bad_request(str(exc), code="invalid_query") from exc
        store = self.holder.get()
        try:
            runs = store.search_runs(query) if store else []
        except ValidationError as exc:  # a cursor naming a run this store lacks
            raise ApiError.bad_request(str(exc), code="invalid_query") from exc
        total, exact = self._count(store, query) if store else (0, True)
        full = query.limit is not None and len(runs) == query.limit
        return {
            "runs": [serialize.run_summary(r) for r in runs],
            "total": total,
            "total_exact": exact,
            "next": Cursor.after(runs[-1], query.order_by).token(query) if full else None,
            "offset": query.offset,
            "limit": query.limit,
            "order_by": [f"{o.field} {'desc' if o.descending else 'asc'}" for o in query.order_by],
        }

    def _store(self) -> BaseStore:
        store = self.holder.get()
        if store is None:
            raise ApiError.not_found(
                f"the store {self.holder.url.redacted()} has no runs yet; "
                "track a run in a notebook first"
            )
        return store

    def get_run(self, run_id: str) -> dict[str, Any]:
        """One run in full, with its cell records and number of child runs."""
        store = self._store()
        run = store.get_run(check_run_id(run_id), with_cells=True)
        children = store.count_runs(RunQuery(conditions=(Condition("parent_id", "=", run.id),)))
        return serialize.run_detail(run, children=children)

    def update_run(self, run_id: str, body: Any) -> dict[str, Any]:
        """Rename, retag or annotate a run: ``{"name", "notes", "tags": {k: v or null}}``."""
        if not isinstance(body, Mapping):
            raise ApiError.bad_request('the body must be a JSON object like {"name": "best"}')
        unknown = sorted(set(body) - {"name", "notes", "tags"})
        if unknown:
            raise ApiError.bad_request(
                f"cannot change {', '.join(unknown)}; a run's name, notes and tags can be changed"
            )
        fields: dict[str, Any] = {}
        if "name" in body:
            name = body["name"]
            if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
                raise ApiError.bad_request(
                    f"name must be a non-empty string of at most {MAX_NAME} characters"
                )
            fields["name"] = name.strip()
        if "notes" in body:
            notes = body["notes"]
            if notes is not None and (not isinstance(notes, str) or len(notes) > MAX_NOTES):
                raise ApiError.bad_request(
                    f"notes must be a string of at most {MAX_NOTES} characters"
                )
            fields["notes"] = notes or ""
        tags: dict[str, str | None] = {}
        if "tags" in body:
            raw = body["tags"]
            if not isinstance(raw, Mapping):
                raise ApiError.bad_request(
                    'tags must be an object like {"stage": "prod", "old": null}'
                )
            for k, v in raw.items():
                if not isinstance(k, str) or not k.strip() or len(k) > MAX_TAG_KEY:
                    raise ApiError.bad_request(
                        f"tag keys must be non-empty strings of at most {MAX_TAG_KEY} characters"
                    )
                if v is not None and (not isinstance(v, str) or len(v) > MAX_TAG_VALUE):
                    raise ApiError.bad_request(
                        f"tag {k!r} must be a string of at most {MAX_TAG_VALUE} characters, "
                        "or null to delete it"
                    )
                tags[k.strip()] = v
        store = self._store()
        run = store.get_run(check_run_id(run_id), with_cells=False)  # 404 before any write
        ops: list[Op] = []
        if fields:
            ops.append(SetRunFields(run.id, fields))
        if tags:
            ops.append(SetTags(run.id, tags))
        if ops:
            store.write(ops)
        return self.get_run(run.id)

    def metric_history(self, run_id: str, args: Args) -> dict[str, Any]:
        """Every measurement of the requested metrics (``?key=a&key=b``)."""
        keys = args.get_list("key")
        if not keys:
            raise ApiError.bad_request("name the metrics with ?key=accuracy (repeat for more)")
        if len(keys) > 50:
            raise ApiError.bad_request("ask for at most 50 metrics at a time")
        store = self._store()
        run = store.get_run(check_run_id(run_id), with_cells=False)
        return {
            "run_id": run.id,
            "metrics": {k: serialize.metric_points(store.metric_history(run.id, k)) for k in keys},
        }

    def lineage(self, run_id: str) -> dict[str, Any]:
        """Which cells and data produced the run."""
        return compute_lineage(self._store(), check_run_id(run_id))

    def compare(self, args: Args) -> dict[str, Any]:
        """Two or more runs side by side (``?ids=a,b,c``), changes relative to the first."""
        ids = list(dict.fromkeys(args.get_list("ids")))
        if len(ids) < 2:
            raise ApiError.bad_request("compare needs at least two run ids: ?ids=<id1>,<id2>")
        if len(ids) > MAX_COMPARE:
            raise ApiError.bad_request(f"compare at most {MAX_COMPARE} runs at a time")
        store = self._store()
        runs = [store.get_run(check_run_id(i), with_cells=False) for i in ids]
        return serialize.compare_runs(runs)

    # --- cards --------------------------------------------------------------------------

    def card(self, run_id: str, fmt: str) -> tuple[str, str]:
        """The card as ``(content type, text)`` for ``md``, ``html`` or ``json``."""
        if fmt not in ("md", "html", "json"):
            raise ApiError.bad_request(f"format must be md, html or json, not {fmt!r}")
        store = self._store()
        # The exact id only (the cards package would also take a unique prefix).
        run = store.get_run(check_run_id(run_id), with_cells=False)
        card = cards.build(run.id, store)
        if fmt == "md":
            return "text/markdown; charset=UTF-8", card.to_markdown()
        if fmt == "html":
            return "text/html; charset=UTF-8", card.to_html()
        return "application/json; charset=UTF-8", card.to_json()

    def card_sections(self, run_id: str) -> dict[str, Any]:
        """The editable human sections of a run's card."""
        run = self._store().get_run(check_run_id(run_id), with_cells=False)
        sections, updated = cards.current_sections(run)
        keys = cards.section_keys()
        return {
            "run_id": run.id,
            "keys": list(keys),
            "titles": {k: cards.section_title(k) for k in keys},
            "prompts": {k: cards.section_prompt(k) for k in keys},
            "sections": {k: sections.get(k, "") for k in keys},
            "missing": [k for k in keys if not sections.get(k)],
            "updated": updated,
        }

    def update_card(self, run_id: str, body: Any, replace: bool) -> dict[str, Any]:
        """Save human sections: ``{"sections": {key: text}}`` (PUT replaces, PATCH merges)."""
        if not isinstance(body, Mapping) or not isinstance(body.get("sections"), Mapping):
            raise ApiError.bad_request(
                'the body must be a JSON object like {"sections": {"intended_use": "..."}}'
            )
        sections = body["sections"]
        keys = cards.section_keys()
        unknown = sorted(str(k) for k in sections if k not in keys)
        if unknown:
            raise ApiError.bad_request(
                f"unknown card sections {', '.join(unknown)}; use {', '.join(keys)}"
            )
        clean: dict[str, str] = {}
        for k, v in sections.items():
            if v is None:
                v = ""
            if not isinstance(v, str) or len(v) > cards.MAX_SECTION_CHARS:
                raise ApiError.bad_request(
                    f"section {k!r} must be text of at most {cards.MAX_SECTION_CHARS} characters"
                )
            clean[str(k)] = v
        if replace:
            clean = {k: clean.get(k, "") for k in keys}
        store = self._store()
        store.get_run(check_run_id(run_id), with_cells=False)  # 404 before any write
        cards.update(run_id, clean, store)
        return self.card_sections(run_id)

    # --- searches -----------------------------------------------------------------------

    def list_searches(self, args: Args) -> dict[str, Any]:
        """A page of searches, newest first, each with its trial count and front size."""
        query = self._query(args, extra=(Condition("kind", "=", RunKind.SEARCH.value),))
        store = self.holder.get()
        if store is None:
            return {"searches": [], "total": 0, "offset": query.offset, "limit": query.limit}
        runs = store.search_runs(query)
        out = []
        for r in runs:
            n = store.count_runs(RunQuery(conditions=(Condition("parent_id", "=", r.id),)))
            out.append(serialize.search_summary(r, trials=n))
        return {
            "searches": out,
            "total": store.count_runs(query),
            "offset": query.offset,
            "limit": query.limit,
        }

    def get_search(self, run_id: str) -> dict[str, Any]:
        """A search with its trials, Pareto front, constraints and hypervolume history."""
        store = self._store()
        search = store.get_run(check_run_id(run_id), with_cells=False)
        if search.kind != RunKind.SEARCH:
            raise ApiError.not_found(
                f"run {run_id!r} is a {search.kind.value}, not a search; "
                "open it with /runs/<id> instead"
            )
        trials = store.search_runs(
            RunQuery(
                conditions=(Condition("parent_id", "=", search.id),),
                order_by=(OrderBy("start_time"),),
            )
        )
        history = store.metric_history(search.id, "hypervolume")
        return serialize.search_detail(search, trials, history)

    def health(self) -> dict[str, Any]:
        """Cheap liveness answer for the panel's status line."""
        return {"ok": True, "time": time.time(), "api_version": API_VERSION}
