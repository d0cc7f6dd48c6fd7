"""What an objective returned, checked: a dict of numbers naming every objective and constraint.

Two forms, fixed by ``optimize``'s arguments before the first trial:

* ``objectives=``: a dict of metric name -> number (extra metrics welcome).
* Optuna's ``direction=``/``directions=``: a number, or a sequence of one number per
  direction, named by ``metric_names`` (a dict is accepted too). Numeric user attributes
  the objective set on the trial (``trial.set_user_attr("latency_ms", 3.2)``, the usual
  Optuna way to feed a ``constraints_func``) join the metrics, so constraints can name them.
  A count that does not match the directions (a float with two directions) stops the
  search at the first trial that returns it: every later trial would fail the same way.

The metric names are only known once the objective has run, so the first trial's return is
checked against the objectives and constraints (a typo stops the search after one trial,
with what it did return), and a return that is not a dict of numbers fails its trial with
a message saying what it was; :data:`MAX_BAD_RETURNS` such trials in a row stop the search.
"""

from __future__ import annotations

import math
import numbers
import threading
from collections.abc import Mapping, Sequence

from optuna.trial import Trial

from tracker.exceptions import ValidationError
from tracker.run import validate_metrics
from tracker.tuning._constraints import Constraint

__all__ = ["MAX_BAD_RETURNS", "Fatal", "ReturnCheck"]

#: Consecutive trials failing on a malformed return before the search stops.
MAX_BAD_RETURNS = 3


class Fatal(ValidationError):
    """Raised inside a trial to stop the whole search with a user-facing error."""


class ReturnCheck:
    """Checks each trial's return value; remembers what must stop the search (thread-safe).

    Args:
        names: The objective metrics, in order.
        constraints: The search's constraints.
        returns: ``"dict"`` or ``"values"`` (see the module docstring).

    Attributes:
        fatal: The error that stops the search, once one happened.
    """

    def __init__(
        self, names: Sequence[str], constraints: Sequence[Constraint], returns: str = "dict"
    ) -> None:
        self.names = list(names)
        self.constraints = list(constraints)
        self.returns = returns
        self.fatal: BaseException | None = None
        self._lock = threading.Lock()
        self._metrics_checked = False
        self._bad_returns = 0

    def metrics(self, trial: Trial, out: object) -> dict[str, float]:
        """The metrics of a return value, or a :class:`ValidationError` (:class:`Fatal`)."""
        if self.returns == "values" and not isinstance(out, Mapping):
            out = self._named(trial, out)
        if not isinstance(out, Mapping):
            hint = ""
            if isinstance(out, int | float | tuple | list):
                hint = (
                    f" (return e.g. {{{', '.join(repr(n) + ': ...' for n in self.names)}}} "
                    "instead of bare values)"
                )
            raise self._bad_return(
                f"the objective must return a dict of metric name -> number; trial "
                f"{trial.number} returned {type(out).__name__} {out!r:.80}{hint}"
            )
        try:
            metrics = validate_metrics(out)
        except ValidationError as exc:
            raise self._bad_return(
                f"trial {trial.number}: the objective returned a value that is not a number: {exc}"
            ) from None
        with self._lock:
            self._bad_returns = 0
            first = not self._metrics_checked
            self._metrics_checked = True
        if first:
            self._check_names(trial, metrics)
        return metrics

    def _named(self, trial: Trial, out: object) -> object:
        """Optuna's return forms (a number, a sequence) as a dict; anything else unchanged."""
        n = len(self.names)
        if isinstance(out, numbers.Real | str | bytes) or out is None:
            seq: list[object] | None = (
                None if out is None or isinstance(out, str | bytes) else [out]
            )
        elif isinstance(out, Sequence) or hasattr(out, "__array__"):
            try:
                seq = list(out)  # type: ignore[call-overload]
            except TypeError:  # a 0-d array
                seq = [out]
        else:
            seq = None
        if seq is None:
            form = "a number" if n == 1 else f"a sequence of {n} numbers"
            raise self._bad_return(
                f"trial {trial.number} returned {type(out).__name__} {out!r:.80}; with "
                f"direction(s)= the objective returns {form} ({', '.join(self.names)})"
            )
        if len(seq) != n:
            got = "one number" if isinstance(out, numbers.Real) else f"{len(seq)} value(s)"
            with self._lock:
                self.fatal = ValidationError(
                    f"trial {trial.number} returned {got} for {n} direction(s) "
                    f"({', '.join(self.names)}); return exactly one value per direction "
                    "(or fix directions=). The search stopped at this trial: every later one "
                    "would fail the same way"
                )
            raise Fatal(str(self.fatal))
        metrics: dict[str, object] = {
            k: v
            for k, v in trial.user_attrs.items()
            if not k.startswith("tracker.")
            and isinstance(v, int | float)
            and not isinstance(v, bool)
        }
        metrics.update(zip(self.names, seq, strict=True))
        return metrics

    def values(self, metrics: Mapping[str, float]) -> list[float]:
        """The objective values, in order (a trial missing one, or with NaN, fails)."""
        values = []
        for name in self.names:
            if name not in metrics:
                raise ValidationError(
                    f"the objective did not return the objective metric {name!r} this time "
                    f"(it returned {', '.join(sorted(metrics)) or 'nothing'}); trial failed"
                )
            v = float(metrics[name])
            if math.isnan(v):
                raise ValidationError(f"objective metric {name!r} is NaN; trial failed")
            values.append(v)
        return values

    def _bad_return(self, message: str) -> ValidationError:
        with self._lock:
            self._bad_returns += 1
            if self._bad_returns >= MAX_BAD_RETURNS and self.fatal is None:
                self.fatal = ValidationError(
                    f"{message}. The last {MAX_BAD_RETURNS} trials all failed this way, so the "
                    "search stopped; fix the objective's return value"
                )
                return Fatal(str(self.fatal))
        return ValidationError(message)

    def _check_names(self, trial: Trial, metrics: Mapping[str, float]) -> None:
        returned = ", ".join(sorted(metrics)) or "nothing"
        unknown_obj = [n for n in self.names if n not in metrics]
        unknown_con = [c for c in self.constraints if c.metric not in metrics]
        problems = []
        if unknown_obj:
            problems.append(
                f"objective metric(s) {', '.join(map(repr, unknown_obj))} are not returned"
            )
        if unknown_con:
            problems.append(
                "constraint(s) "
                + ", ".join(repr(c.expr) for c in unknown_con)
                + " name metrics the objective does not return"
            )
        if not trial.params:
            problems.append(
                "the objective suggested no parameters (the search space is empty): call "
                "trial.suggest_float/int/categorical in it, or pass space="
            )
        if problems:
            self.fatal = ValidationError(
                f"{'; '.join(problems)}. The first trial returned: {returned}. "
                "The search stopped after that trial; fix the names and run it again"
            )
            raise Fatal(str(self.fatal))
