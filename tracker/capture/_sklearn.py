"""scikit-learn autologging (``%track sklearn on``).

While on, for estimators the user calls directly (not the clones a meta-estimator or
``cross_validate`` fits internally):

* ``fit`` (and ``fit_transform``, ``fit_predict``, ``partial_fit``) logs
  ``get_params(deep=True)`` to the active run, tags it with the estimator's class,
  and records the content hash of the training data ``X`` (and ``y``) as inputs of
  the running cell (and as data of the active run); a search estimator
  (``GridSearchCV``...) also logs ``best_params_`` (as ``best.<param>``) and
  ``best_score_`` (as ``best_cv_score``);
* ``score(X, y)`` logs a metric ``score_<X>`` (``<X>`` is the notebook variable passed
  as ``X``, when there is one; else just ``score``);
* a function of :mod:`sklearn.metrics` called with the output of ``predict``,
  ``predict_proba`` or ``decision_function`` of such an estimator logs its result as a
  metric ``<function>_<X>`` (e.g. ``accuracy_score_X_test``), when it is a number.

Methods are patched on the classes that define them (found by walking
``BaseEstimator``'s subclasses, again whenever new modules were imported), so
estimators imported later and user-defined ones are covered; metric functions are
patched in their modules and wherever the notebook namespace already holds them.
Everything is put back by ``%track sklearn off``.
"""

from __future__ import annotations

import functools
import numbers
import sys
import threading
import types
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from tracker.exceptions import HashingError

from ._values import is_data, signature

if TYPE_CHECKING:
    from ._recorder import Capture

__all__ = ["SklearnAutolog"]

_FIT = ("fit", "fit_transform", "fit_predict", "partial_fit")
_PREDICT = ("predict", "predict_proba", "predict_log_proba", "decision_function")
_SUPPRESS = (
    "cross_validate",
    "cross_val_predict",
    "learning_curve",
    "validation_curve",
    "permutation_test_score",
)
_METRIC_SUFFIXES = ("_score", "_error", "_loss", "_deviance")
_METRIC_EXTRA = ("matthews_corrcoef",)
_MAX_PARAM_LEN = 250
_MAX_PREDICTIONS = 64


class SklearnAutolog:
    """Patches scikit-learn while active (see the module docstring)."""

    def __init__(self, capture: Capture) -> None:
        self.capture = capture
        self.active = False
        self._originals: dict[tuple[Any, str], Any] = {}
        self._patched_classes: set[type] = set()
        self._modules_seen = -1
        self._depth = 0
        self._depth_lock = threading.Lock()
        self._fitted: weakref.WeakSet[Any] = weakref.WeakSet()
        # id(prediction) -> (its signature, name of the X it was computed from). No
        # reference is kept (numpy refuses to resize referenced arrays); the signature
        # guards against a new array reusing the id.
        self._predictions: dict[int, tuple[tuple[Any, ...], str | None]] = {}
        self._metric_wrappers: dict[Callable[..., Any], Callable[..., Any]] = {}

    # --- switching -------------------------------------------------------------------------

    def enable(self) -> None:
        """Patch estimators and metrics (imports scikit-learn)."""
        import sklearn.base
        import sklearn.metrics
        import sklearn.model_selection

        self.active = True
        self.refresh()
        for name in dir(sklearn.metrics):
            if name.startswith("_") or not (
                name.endswith(_METRIC_SUFFIXES) or name in _METRIC_EXTRA
            ):
                continue
            fn = getattr(sklearn.metrics, name)
            if not callable(fn) or isinstance(fn, type):
                continue
            wrapper = self._metric(fn, name)
            self._metric_wrappers[fn] = wrapper
            self._patch(sklearn.metrics, name, wrapper)
            home = sys.modules.get(getattr(fn, "__module__", "") or "")
            if home is not None and getattr(home, name, None) is fn:
                self._patch(home, name, wrapper)
        for name in _SUPPRESS:
            fn = getattr(sklearn.model_selection, name, None)
            if fn is not None:
                wrapper = self._suppressing(fn)
                self._patch(sklearn.model_selection, name, wrapper)
                home = sys.modules.get(getattr(fn, "__module__", "") or "")
                if home is not None and getattr(home, name, None) is fn:
                    self._patch(home, name, wrapper)
        # Functions the notebook imported before autologging was switched on.
        ns = self.capture.shell.user_ns
        for key, value in list(ns.items()):
            found = self._metric_wrappers.get(value) if callable(value) else None
            if found is not None:
                self._originals.setdefault((ns, key), value)
                ns[key] = found

    def disable(self) -> None:
        """Put every original back."""
        self.active = False
        ns = self.capture.shell.user_ns
        for (owner, name), original in reversed(list(self._originals.items())):
            if owner is ns:
                if name in ns and getattr(ns[name], "__tracker_original__", None) is original:
                    ns[name] = original
            else:
                setattr(owner, name, original)
        self._originals.clear()
        self._patched_classes.clear()
        self._metric_wrappers.clear()
        self._predictions.clear()
        self._modules_seen = -1

    def _patch(self, owner: Any, name: str, new: Any) -> None:
        if (owner, name) not in self._originals:
            self._originals[(owner, name)] = (
                owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
            )
        setattr(owner, name, new)

    def refresh(self) -> None:
        """Patch estimator classes defined since the last call (cheap when none were)."""
        n = len(sys.modules)
        if n == self._modules_seen:
            return
        self._modules_seen = n
        base = sys.modules.get("sklearn.base")
        if base is None:
            return
        stack: list[type] = [base.BaseEstimator]
        seen: set[type] = set()
        while stack:
            cls = stack.pop()
            if cls in seen:
                continue
            seen.add(cls)
            stack.extend(cls.__subclasses__())
            for klass in cls.__mro__:
                if klass in self._patched_classes or klass is object:
                    continue
                self._patched_classes.add(klass)
                for attr in (*_FIT, "score", *_PREDICT):
                    fn = klass.__dict__.get(attr)
                    if fn is None or getattr(fn, "__tracker_original__", None) is not None:
                        continue
                    if attr in _FIT:
                        make = self._fit
                    elif attr == "score":
                        make = self._score
                    else:
                        make = self._predict
                    if callable(fn):
                        self._patch(klass, attr, make(fn))
                    elif hasattr(fn, "__get__"):  # Pipeline.predict is an available_if
                        self._patch(klass, attr, _DescriptorWrapper(fn, make))

    # --- nesting ------------------------------------------------------------------------------

    def _enter(self) -> bool:
        with self._depth_lock:
            self._depth += 1
            return self._depth == 1

    def _exit(self) -> None:
        with self._depth_lock:
            self._depth -= 1

    # --- wrappers ------------------------------------------------------------------------------

    def _fit(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def fit(est: Any, *args: Any, **kwargs: Any) -> Any:
            outer = self._enter()
            try:
                result = fn(est, *args, **kwargs)
            finally:
                self._exit()
            if outer and self.active:
                try:
                    self._after_fit(est, args, kwargs)
                except Exception as exc:  # autologging never fails the user's fit
                    self.capture.report("sklearn autologging (fit)", exc)
            return result

        fit.__tracker_original__ = fn  # type: ignore[attr-defined]
        return fit

    def _score(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def score(est: Any, *args: Any, **kwargs: Any) -> Any:
            outer = self._enter()
            try:
                result = fn(est, *args, **kwargs)
            finally:
                self._exit()
            if outer and self.active and est in self._fitted:
                try:
                    x = args[0] if args else kwargs.get("X")
                    self._log_metric("score", result, x)
                except Exception as exc:
                    self.capture.report("sklearn autologging (score)", exc)
            return result

        score.__tracker_original__ = fn  # type: ignore[attr-defined]
        return score

    def _predict(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def predict(est: Any, *args: Any, **kwargs: Any) -> Any:
            outer = self._enter()
            try:
                result = fn(est, *args, **kwargs)
            finally:
                self._exit()
            if outer and self.active and est in self._fitted:
                try:
                    x = args[0] if args else kwargs.get("X")
                    self._remember_prediction(result, x)
                except Exception as exc:
                    self.capture.report("sklearn autologging (predict)", exc)
            return result

        predict.__tracker_original__ = fn  # type: ignore[attr-defined]
        return predict

    def _metric(self, fn: Callable[..., Any], name: str) -> Callable[..., Any]:
        @functools.wraps(fn)
        def metric(*args: Any, **kwargs: Any) -> Any:
            outer = self._enter()
            try:
                result = fn(*args, **kwargs)
            finally:
                self._exit()
            if outer and self.active and self._predictions:
                try:
                    for value in (*args, *kwargs.values()):
                        hit = self._predictions.get(id(value))
                        if hit is not None and hit[0] == signature(value):
                            self._log_metric(name, result, None, x_name=hit[1])
                            break
                except Exception as exc:
                    self.capture.report(f"sklearn autologging ({name})", exc)
            return result

        metric.__tracker_original__ = fn  # type: ignore[attr-defined]
        return metric

    def _suppressing(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Functions that fit clones internally: nothing inside them is the user's fit."""

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            self._enter()
            try:
                return fn(*args, **kwargs)
            finally:
                self._exit()

        wrapper.__tracker_original__ = fn  # type: ignore[attr-defined]
        return wrapper

    # --- what gets logged ------------------------------------------------------------------------

    def _after_fit(self, est: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
        self._fitted.add(est)
        run = self.capture.target_run()
        if run is None:
            return
        cls = type(est)
        params = _loggable_params(est.get_params(deep=True))
        best = getattr(est, "best_params_", None)
        if isinstance(best, Mapping):
            params.update({f"best.{k}": v for k, v in _loggable_params(best).items()})
        if params:
            run.log_params(params)
        run.set_tags(
            {
                "estimator_name": cls.__name__,
                "estimator_class": f"{cls.__module__}.{cls.__qualname__}",
            }
        )
        best_score: Any = getattr(est, "best_score_", None)
        if _is_number(best_score):
            run.log_metrics({"best_cv_score": float(best_score)})
        for role, pos, key in (("X", 0, "X"), ("y", 1, "y")):
            value = args[pos] if len(args) > pos else kwargs.get(key)
            if value is None or not is_data(value):
                continue
            bound = self.capture.name_of(value)
            try:
                ref = self.capture.cache.get(value, bound)  # cached when it is a variable
            except HashingError as exc:
                self.capture.report("hashing the training data", exc)
                continue
            name = bound or f"fit.{role}"
            self.capture.add_input(name, ref)
            run.record_data(f"training_data.{role}", ref)

    def _remember_prediction(self, result: Any, x: Any) -> None:
        if not is_data(result):
            return
        x_name = self.capture.name_of(x) if x is not None else None
        self._predictions.pop(id(result), None)
        self._predictions[id(result)] = (signature(result), x_name)
        while len(self._predictions) > _MAX_PREDICTIONS:
            del self._predictions[next(iter(self._predictions))]

    def _log_metric(self, name: str, value: Any, x: Any, *, x_name: str | None = None) -> None:
        if not _is_number(value):
            return
        run = self.capture.target_run()
        if run is None:
            return
        if x_name is None and x is not None:
            x_name = self.capture.name_of(x)
        key = f"{name}_{x_name}" if x_name else name
        run.log_metrics({key: float(value)})


class _DescriptorWrapper:
    """Wraps a method descriptor (scikit-learn's ``available_if``), keeping its check.

    ``hasattr(pipeline, "predict_proba")`` must stay ``False`` when the final step has
    no ``predict_proba``: the original descriptor is asked first, and its
    ``AttributeError`` passes through.
    """

    def __init__(self, desc: Any, make: Callable[[Callable[..., Any]], Callable[..., Any]]):
        self.__tracker_original__ = desc
        self._desc = desc

        def call(est: Any, *args: Any, **kwargs: Any) -> Any:
            return desc.__get__(est, type(est))(*args, **kwargs)

        inner = getattr(desc, "fn", None)
        if callable(inner):
            functools.update_wrapper(call, inner)
        self._wrapped = make(call)

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        bound = self._desc.__get__(obj, owner)  # raises AttributeError when unavailable
        if obj is None:
            return bound
        return types.MethodType(self._wrapped, obj)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _loggable_params(params: Mapping[Any, Any]) -> dict[str, Any]:
    """Params as the tracker stores them: scalars as they are, anything else as text."""
    out: dict[str, Any] = {}
    np = sys.modules.get("numpy")
    for k, v in params.items():
        if not isinstance(k, str):
            continue
        if isinstance(v, str):
            out[k] = v[:_MAX_PARAM_LEN]
        elif v is None or isinstance(v, bool | int | float):
            out[k] = v
        elif np is not None and isinstance(v, np.generic) and not isinstance(v, np.void):
            out[k] = v.item()
        else:
            text = repr(v)
            out[k] = text if len(text) <= _MAX_PARAM_LEN else text[: _MAX_PARAM_LEN - 1] + "…"
    return out
