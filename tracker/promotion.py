"""Gated promotion: move a registry alias only when every requirement holds.

``tracker.promote("digits", 3, alias="champion", require=[...])`` judges each
requirement on the records of version 3 (its run, its search, its card), then either
moves the alias and records a ``promote`` event with every judgement, or records a
``promotion_refused`` event and raises :class:`~tracker.exceptions.PromotionRefused`
naming each failed requirement; the alias stays where it was. Requirements:

=================================  ============================================================
``"<metric> <op> <number>"``       the version's run metric meets it (the search's constraint
                                   parser and semantics: a missing or NaN metric fails)
``"feasible_on_test"``             the search's test re-check held for this trial
                                   (``attrs["recheck"][trial]["feasible_on_test"]``)
``"no_worse_than=<alias|version>"``  on each of the search's objectives, the version is at
                                   least as good as the one at that alias (held-out test
                                   figures when both have them, else validation); an unset
                                   alias has nothing to beat
``"card"``                         the version's model card has no section needing input
=================================  ============================================================

Every requirement is parsed before anything is read or written: an unknown one is a
``ValidationError`` listing these forms. This module sits above the cards and the
optimizer (it reads both), so it is not part of :mod:`tracker.models`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tracker.exceptions import ModelNotFoundError, PromotionRefused, ValidationError
from tracker.models import (
    VersionRef,
    check_alias,
    check_model_name,
    check_reason,
    find_version,
    parse_version_ref,
    who,
)
from tracker.records import ModelVersion, Run, RunKind
from tracker.store import BaseStore, get_store

__all__ = ["Judgement", "Requirement", "parse_requirements", "promote"]

_FORMS = (
    "'<metric> <op> <number>' (e.g. 'latency_p95_ms <= 100'), 'feasible_on_test', "
    "'no_worse_than=<alias or version>' (e.g. 'no_worse_than=champion') or 'card'"
)


@dataclass(frozen=True, slots=True)
class Requirement:
    """One parsed requirement.

    Attributes:
        text: As given.
        kind: ``"constraint"``, ``"feasible_on_test"``, ``"no_worse_than"`` or ``"card"``.
        arg: The constraint (parsed) or the alias/version to compare with.
    """

    text: str
    kind: str
    arg: Any = None


@dataclass(frozen=True, slots=True)
class Judgement:
    """A requirement judged on a version: whether it held, and why (or why not)."""

    requirement: str
    held: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        """JSON form kept in the registry event."""
        return {"requirement": self.requirement, "held": self.held, "detail": self.detail}


def parse_requirements(require: Sequence[str] | str | None) -> list[Requirement]:
    """Parse every requirement (nothing is judged yet).

    Raises:
        ValidationError: an unknown or malformed requirement (lists the accepted forms).
    """
    from tracker.tuning import parse_constraint  # the search's parser and semantics

    if require is None:
        return []
    items = [require] if isinstance(require, str) else list(require)
    out: list[Requirement] = []
    for item in items:
        if not isinstance(item, str) or not item.strip():
            raise ValidationError(
                f"a requirement is a non-empty string, not {item!r:.60}; {_FORMS}"
            )
        text = item.strip()
        if text in ("feasible_on_test", "card"):
            out.append(Requirement(text, text))
        elif text.startswith("no_worse_than="):
            target = text.partition("=")[2].strip()
            if not target:
                raise ValidationError(
                    f"requirement {text!r} names nothing to compare with; {_FORMS}"
                )
            if not target.isdigit():
                try:
                    check_alias(target)
                except ValidationError as exc:
                    raise ValidationError(f"requirement {text!r}: {exc}") from None
            out.append(Requirement(text, "no_worse_than", target))
        elif any(op in text for op in ("<", ">")):
            try:
                out.append(Requirement(text, "constraint", parse_constraint(text)))
            except ValidationError as exc:
                raise ValidationError(f"requirement {text!r}: {exc}") from None
        else:
            raise ValidationError(f"unknown requirement {text!r}; use {_FORMS}")
    return out


def _search_of(store: BaseStore, run: Run) -> Run | None:
    if run.kind is not RunKind.TRIAL or not run.parent_id:
        return None
    try:
        parent = store.get_run(run.parent_id, with_cells=False)
    except KeyError:
        return None
    return parent if parent.kind is RunKind.SEARCH else None


def _objectives(store: BaseStore, *runs: Run) -> dict[str, str]:
    for run in runs:
        search = _search_of(store, run)
        cfg = search.attrs.get("search") if search is not None else None
        objectives = cfg.get("objectives") if isinstance(cfg, Mapping) else None
        if isinstance(objectives, Mapping) and objectives:
            return {str(k): str(v) for k, v in objectives.items()}
    return {}


def _judge_constraint(req: Requirement, run: Run) -> Judgement:
    from tracker.tuning import evaluate_constraints

    (result,) = evaluate_constraints([req.arg], run.metrics)
    if result.value is None or result.reason is not None:
        why = "is NaN" if result.reason == "nan" else "is not logged"
        return Judgement(req.text, False, f"metric {req.arg.metric!r} {why} on run {run.id}")
    verdict = "meets" if result.feasible else "does not meet"
    return Judgement(
        req.text, result.feasible, f"{req.arg.metric} = {result.value:g} {verdict} {req.arg.expr}"
    )


def _judge_test(req: Requirement, store: BaseStore, run: Run) -> Judgement:
    search = _search_of(store, run)
    if search is None:
        return Judgement(
            req.text, False, f"run {run.id} is not a search trial, so it has no test re-check"
        )
    recheck = search.attrs.get("recheck")
    entry = recheck.get(run.id) if isinstance(recheck, Mapping) else None
    if not isinstance(entry, Mapping):
        return Judgement(
            req.text,
            False,
            f"search {search.id} recorded no test re-check of this trial (run "
            "tracker.optimize(..., test=...); only Pareto trials are re-checked)",
        )
    held = entry.get("feasible_on_test") is True
    if held:
        return Judgement(req.text, True, "every constraint held on the test split")
    broken = [k for k, v in (entry.get("violations") or {}).items() if _num(v) > 0]
    why = entry.get("error") or (f"broken on test: {', '.join(broken)}" if broken else "failed")
    return Judgement(req.text, False, str(why))


def _num(v: object) -> float:
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def _figures(run: Run, use_test: bool) -> Mapping[str, Any]:
    test = run.attrs.get("test")
    return test if use_test and isinstance(test, Mapping) else run.metrics


def _judge_no_worse(req: Requirement, store: BaseStore, mv: ModelVersion, run: Run) -> Judgement:
    target = str(req.arg)
    try:
        ref = (
            VersionRef(mv.name, version=int(target))
            if target.isdigit()
            else VersionRef(mv.name, alias=check_alias(target))
        )
        other = find_version(store, ref)
    except ModelNotFoundError:
        return Judgement(
            req.text, True, f"no version of {mv.name!r} is at {target!r}: none to beat"
        )
    if other.version == mv.version:
        return Judgement(req.text, True, f"version {mv.version} is the one at {target!r}")
    other_run = store.get_run(other.run_id, with_cells=False)
    objectives = _objectives(store, run, other_run)
    if not objectives:
        return Judgement(
            req.text,
            False,
            "neither version comes from a search, so there are no objectives to compare on",
        )
    use_test = all(isinstance(r.attrs.get("test"), Mapping) for r in (run, other_run))
    mine, theirs = _figures(run, use_test), _figures(other_run, use_test)
    worse: list[str] = []
    for metric, direction in objectives.items():
        a, b = _num(mine.get(metric)), _num(theirs.get(metric))
        if math.isnan(a) or math.isnan(b):
            worse.append(f"{metric} missing")
        elif (a < b) if direction == "maximize" else (a > b):
            worse.append(f"{metric} {a:g} vs {b:g} ({direction})")
    split = "test" if use_test else "validation"
    against = f"version {other.version} at {target!r}, on {split} figures"
    if worse:
        return Judgement(req.text, False, f"worse than {against}: {'; '.join(worse)}")
    return Judgement(req.text, True, f"no worse than {against}")


def _judge_card(req: Requirement, store: BaseStore, mv: ModelVersion) -> Judgement:
    from tracker.cards import build_card

    card = build_card(mv.run_id, store=store, persist=False)
    if card.needs_input:
        return Judgement(
            req.text,
            False,
            f"the card of run {mv.run_id} still needs input in: {', '.join(card.needs_input)} "
            f"(fill them with tracker.model_card('{mv.uri}', <section>=text))",
        )
    return Judgement(req.text, True, "every section of the card is filled in")


def _judge(req: Requirement, store: BaseStore, mv: ModelVersion, run: Run) -> Judgement:
    if req.kind == "constraint":
        return _judge_constraint(req, run)
    if req.kind == "feasible_on_test":
        return _judge_test(req, store, run)
    if req.kind == "no_worse_than":
        return _judge_no_worse(req, store, mv, run)
    return _judge_card(req, store, mv)


def promote(
    name: str,
    version: int | str,
    *,
    alias: str = "champion",
    require: Sequence[str] | str | None = None,
    reason: str | None = None,
    store: BaseStore | None = None,
) -> ModelVersion:
    """Move ``alias`` to ``version`` only if every requirement holds.

    Example::

        tracker.promote("digits", 3, alias="champion",
                        require=["latency_p95_ms <= 100", "feasible_on_test",
                                 "no_worse_than=champion", "card"])

    Args:
        name: The registered model.
        version: Its version number (or ``"name/3"``-style reference of the same model).
        alias: The alias to move.
        require: Requirements (the module docstring lists them); none moves the alias
            unconditionally, like :func:`tracker.set_alias`, but records a ``promote``.
        reason: Why, kept in the history.
        store: The store (default: the process's store).

    Returns:
        The promoted :class:`~tracker.records.ModelVersion` (with the alias).

    Raises:
        PromotionRefused: a requirement failed (names each); the alias is unchanged and
            the refusal is in the history.
        ValidationError: an unknown requirement or a bad argument (nothing is written).
        ModelNotFoundError: no such model or version (nothing is written).
    """
    model_name, label = check_model_name(name), check_alias(alias)
    if isinstance(version, str):
        version = parse_version_ref(version if "/" in version else f"{name}/{version}").version or 0
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValidationError(f"version must be a positive integer, not {version!r:.40}")
    requirements = parse_requirements(require)
    why = check_reason(reason)
    st = store or get_store()
    mv = find_version(st, VersionRef(model_name, version=version))
    run = st.get_run(mv.run_id, with_cells=False)
    judged = [_judge(r, st, mv, run) for r in requirements]
    detail = {"requirements": [j.to_dict() for j in judged]}
    failed = {j.requirement: j.detail for j in judged if not j.held}
    if failed:
        st.add_registry_event(
            model_name,
            "promotion_refused",
            who=who(),
            version=version,
            alias=label,
            reason=why,
            detail=detail,
        )
        raise PromotionRefused(model_name, version, label, failed)
    st.set_model_alias(
        model_name, label, version, who=who(), action="promote", reason=why, detail=detail
    )
    return find_version(st, VersionRef(model_name, version=version))
