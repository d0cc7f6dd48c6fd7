"""``tracker models``: the model registry from a shell (list, show, promote, alias).

``tracker models list``                       every registered model: latest version, aliases
``tracker models show NAME[@ALIAS|/VERSION]``  a model's versions, aliases and history, or
                                              one version with its own history
``tracker models promote NAME VERSION``       move an alias through ``--require`` gates (the
                                              same judges as ``tracker.promote``)
``tracker models alias NAME ALIAS VERSION``    move an alias unconditionally (``--remove``)

A refused promotion prints each failed requirement with why, and exits with status 1
(the alias is unchanged and the refusal is in the history); a mistake (an unknown
model, version or requirement) exits with status 2 like every command, and writes
nothing. ``--json`` gives the registry's records as the REST API does.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import Any

from tracker.cli._common import Subparsers, add_command, current_store, dump_json
from tracker.display import clip
from tracker.display import text_table as format_table
from tracker.exceptions import PromotionRefused, ValidationError
from tracker.records import ModelVersion, RegistryEvent
from tracker.store import BaseStore

__all__ = ["register"]

#: Exit status of a promotion whose requirements did not all hold (2 is a mistake).
REFUSED = 1


def register(sub: Subparsers) -> None:
    """Add ``models`` and its subcommands."""
    p = add_command(
        sub,
        "models",
        _cmd_help,
        help="the model registry: list, show, promote through gates, move aliases",
        examples=[
            "tracker models list",
            "tracker models show digits                 # versions, aliases, history",
            "tracker models show digits@champion --json",
            'tracker models promote digits 3 --alias champion --require "latency_p95_ms <= 100"'
            " --require card",
            "tracker models alias digits staging 2",
        ],
    )
    cmds = p.add_subparsers(dest="models_command", metavar="SUBCOMMAND")
    _register_reads(cmds)
    _register_moves(cmds)


def _register_reads(cmds: Subparsers) -> None:
    """``models list`` and ``models show``."""
    ls = add_command(
        cmds,
        "list",
        _cmd_list,
        help="every registered model with its latest version and aliases",
        examples=["tracker models list", "tracker models list --json"],
    )
    ls.add_argument("--json", action="store_true", help="as JSON (what GET /models answers)")
    show = add_command(
        cmds,
        "show",
        _cmd_show,
        help="a model's versions, aliases and history, or one version's record",
        examples=[
            "tracker models show digits",
            "tracker models show digits@champion",
            "tracker models show digits/3 --json",
        ],
    )
    show.add_argument("ref", help="NAME, NAME@ALIAS, NAME/VERSION or NAME/latest (models:/ too)")
    show.add_argument("--json", action="store_true", help="the records as JSON")


def _register_moves(cmds: Subparsers) -> None:
    """``models promote`` and ``models alias``."""
    pro = add_command(
        cmds,
        "promote",
        _cmd_promote,
        help="move an alias to a version only if every requirement holds",
        description="Judge every --require on the version (its run's metrics, its search's "
        "test re-check, the version at another alias, its model card) and move the alias only "
        "if all hold. A refusal names each failed requirement, records a promotion_refused "
        "event, leaves the alias where it was and exits with status 1. Requirements: "
        "'<metric> <op> <number>', 'feasible_on_test', 'no_worse_than=<alias or version>', "
        "'card'.",
        examples=[
            'tracker models promote digits 3 --require "latency_p95_ms <= 100" --require card',
            "tracker models promote digits 4 --alias champion --require no_worse_than=champion"
            ' --reason "retrained on May data"',
        ],
    )
    pro.add_argument("name", help="the registered model")
    pro.add_argument("version", help="its version number (or latest)")
    pro.add_argument("--alias", default="champion", help="the alias to move (default: champion)")
    pro.add_argument(
        "--require",
        action="append",
        default=[],
        metavar="REQ",
        help="a requirement that must hold (repeatable)",
    )
    pro.add_argument("--reason", help="why, kept in the history")
    pro.add_argument("--json", action="store_true", help="the verdicts as JSON")
    al = add_command(
        cmds,
        "alias",
        _cmd_alias,
        help="point an alias at a version, unconditionally (--remove deletes it)",
        examples=[
            "tracker models alias digits staging 2",
            "tracker models alias digits staging --remove",
        ],
    )
    al.add_argument("name", help="the registered model")
    al.add_argument("alias", help="the alias (not only digits, not 'latest')")
    al.add_argument("version", nargs="?", help="the version it points at")
    al.add_argument("--remove", action="store_true", help="remove the alias instead")
    al.add_argument("--reason", help="why, kept in the history")
    al.add_argument("--json", action="store_true", help="the event recorded, as JSON")


def _cmd_help(args: argparse.Namespace) -> int:
    raise ValidationError(
        "tracker models needs a subcommand: list, show, promote or alias "
        "(tracker models --help shows examples)"
    )


def _when(t: datetime) -> str:
    return f"{t:%Y-%m-%d %H:%M:%S}"


def _cmd_list(args: argparse.Namespace) -> int:
    from tracker.models import list_models

    models = list_models(store=current_store())
    if args.json:
        dump_json({"models": [m.to_dict() for m in models]})
        return 0
    if not models:
        print("no registered models (tracker.register_model(ref, name) registers one)")
        return 0
    rows = [
        (
            m.name,
            m.latest_version,
            m.versions,
            ", ".join(f"@{a}={v}" for a, v in sorted(m.aliases.items())),
            _when(m.updated),
        )
        for m in models
    ]
    print(format_table(rows, ["name", "latest", "versions", "aliases", "updated"], max_width=60))
    return 0


def _event_line(e: RegistryEvent) -> str:
    """One history line: when, who, what, why, and a promotion's verdicts."""
    what = e.action
    if e.alias is not None:
        moved = f"{e.previous} -> {e.version}" if e.previous is not None else f"{e.version}"
        what += f" @{e.alias} " + (moved if e.version is not None else f"(was {e.previous})")
    elif e.version is not None:
        what += f" version {e.version}"
    line = f"{_when(e.timestamp)}  {e.who}  {what}"
    if e.reason:
        line += f"  ({clip(e.reason, 80)})"
    for r in e.detail.get("requirements", []) if isinstance(e.detail, dict) else []:
        mark = "ok  " if r.get("held") else "FAIL"
        line += f"\n      {mark} {r.get('requirement')}: {clip(str(r.get('detail', '')), 100)}"
    return line


def _version_lines(v: ModelVersion) -> list[str]:
    meta = v.meta
    lines = [
        f"{v.name}/{v.version}" + (f"  @{' @'.join(v.aliases)}" if v.aliases else ""),
        f"  model      {v.source}  (run {v.run_id})",
        f"  digest     xxh3-128 {v.digest}  sha256 {v.sha256}",
        f"  registered {_when(v.created)} by {v.created_by}",
    ]
    what = [str(meta[k]) for k in ("class", "format") if meta.get(k)]
    if meta.get("framework"):
        what.append(f"{meta['framework']} {meta.get('framework_version') or ''}".strip())
    if what:
        lines.append(f"  class      {', '.join(what)}")
    return lines


def _cmd_show(args: argparse.Namespace) -> int:
    from tracker.models import VersionRef, check_model_name, find_version, parse_version_ref

    store = current_store()
    ref = args.ref.strip()
    bare = ref.removeprefix("models:/")
    if "@" in bare or "/" in bare:
        mv = find_version(store, parse_version_ref(ref))
        events = [e for e in store.registry_events(mv.name) if e.version == mv.version]
        if args.json:
            dump_json({**mv.to_dict(), "history": [e.to_dict() for e in events]})
            return 0
        print("\n".join(_version_lines(mv)))
        print("history:")
        print("\n".join(f"  {_event_line(e)}" for e in events))
        return 0
    name = check_model_name(bare)
    latest = find_version(store, VersionRef(name, latest=True))  # lists models if unknown
    return _show_model(store, name, latest.version, args.json)


def _show_model(store: BaseStore, name: str, latest: int, as_json: bool) -> int:
    versions = store.model_versions(name)
    events = store.registry_events(name)
    aliases = {a: v.version for v in versions for a in v.aliases}
    if as_json:
        dump_json(
            {
                "name": name,
                "latest_version": latest,
                "aliases": aliases,
                "versions": [v.to_dict() for v in reversed(versions)],
                "history": [e.to_dict() for e in events],
            }
        )
        return 0
    print(f"{name}: {len(versions)} version(s), latest {latest}")
    if aliases:
        print("aliases: " + ", ".join(f"@{a} -> {v}" for a, v in sorted(aliases.items())))
    rows = [
        (
            v.version,
            " ".join(f"@{a}" for a in v.aliases),
            str(v.meta.get("class") or "").rpartition(".")[2],
            v.run_id[:12],
            v.digest[:12],
            _when(v.created),
            v.created_by,
        )
        for v in reversed(versions)
    ]
    heads = ["version", "aliases", "model class", "run", "digest", "registered", "by"]
    print(format_table(rows, heads, max_width=48))
    print("history:")
    print("\n".join(f"  {_event_line(e)}" for e in events))
    return 0


def _version(text: str, name: str) -> int:
    from tracker.models import find_version, parse_version_ref

    if text.isdigit() and int(text) >= 1:
        return int(text)
    if text == "latest":
        return find_version(current_store(), parse_version_ref(f"{name}/latest")).version
    raise ValidationError(f"a version is a positive number or 'latest', not {text!r:.40}")


def _cmd_promote(args: argparse.Namespace) -> int:
    from tracker.models import check_model_name
    from tracker.promotion import promote

    store = current_store()
    name = check_model_name(args.name)
    version = _version(args.version.strip(), name)
    try:
        mv = promote(
            name, version, alias=args.alias, require=args.require, reason=args.reason, store=store
        )
    except PromotionRefused as refused:
        verdicts = _last_verdicts(store, name, "promotion_refused")
        if args.json:
            dump_json(_promotion_json(name, version, args.alias, False, verdicts))
        print(
            f"tracker: {name} version {version} was not promoted to @{args.alias}: "
            f"{len(refused.failed)} requirement(s) failed (the alias is unchanged; the "
            f"refusal is in `tracker models show {name}`)",
            file=sys.stderr,
        )
        for req, why in refused.failed.items():
            print(f"  FAIL {req}: {why}", file=sys.stderr)
        return REFUSED
    verdicts = _last_verdicts(store, name, "promote")
    if args.json:
        dump_json(_promotion_json(name, version, args.alias, True, verdicts))
        return 0
    print(f"promoted {mv.name}/{mv.version} to @{args.alias}")
    for r in verdicts:
        print(f"  ok   {r.get('requirement')}: {r.get('detail')}")
    return 0


def _last_verdicts(store: BaseStore, name: str, action: str) -> list[dict[str, Any]]:
    """The requirement verdicts of the newest ``action`` event of ``name``."""
    for e in reversed(store.registry_events(name)):
        if e.action == action:
            found = e.detail.get("requirements", [])
            return list(found) if isinstance(found, list) else []
    return []


def _promotion_json(
    name: str, version: int, alias: str, promoted: bool, verdicts: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "name": name,
        "version": version,
        "alias": alias,
        "promoted": promoted,
        "requirements": verdicts,
        "failed": {r["requirement"]: r["detail"] for r in verdicts if not r.get("held")},
    }


def _cmd_alias(args: argparse.Namespace) -> int:
    from tracker.models import check_model_name, set_alias

    name = check_model_name(args.name)
    if args.remove == (args.version is not None):
        raise ValidationError(
            "give the version the alias points at, or --remove (not both): "
            f"tracker models alias {name} {args.alias} 3"
        )
    version = None if args.remove else _version(args.version.strip(), name)
    event = set_alias(name, args.alias, version, reason=args.reason, store=current_store())
    if args.json:
        dump_json(event.to_dict())
    elif version is None:
        print(f"removed @{event.alias} of {name} (it pointed at version {event.previous})")
    else:
        was = f" (was {event.previous})" if event.previous is not None else ""
        print(f"{name} @{event.alias} -> version {version}{was}")
    return 0
