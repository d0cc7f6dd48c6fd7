"""Which uses of an object can change it, decided by the object's type at run time.

The cell analysis keeps method calls by name (``x.sort()``); whether that call changes
``x`` depends on what ``x`` is. These rules decide it, before the cell, for the data the
cell reads (:func:`may_change`: then it is hashed again after the cell) and for other
objects (:func:`changes_object`: then the cell counts as having written the name).
Unknown methods are assumed to change their object: the content is then checked by
hashing, never assumed.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from ._uses import NameUse

__all__ = ["changes_object", "is_plain_function", "may_change", "pandas_cow"]

_NUMPY_CHANGING = frozenset(
    {"sort", "fill", "resize", "put", "partition", "setfield", "itemset", "setflags", "byteswap"}
)
_NUMPY_VIEWS = frozenset(
    {
        "view",
        "reshape",
        "ravel",
        "transpose",
        "squeeze",
        "swapaxes",
        "diagonal",
        "T",
        "real",
        "imag",
        "flat",
        "astype",
        "__array__",
        "base",
        "flatten_view",
    }
)
_NUMPY_PURE = frozenset(
    {
        "sum",
        "mean",
        "std",
        "var",
        "min",
        "max",
        "argmin",
        "argmax",
        "argsort",
        "any",
        "all",
        "prod",
        "cumsum",
        "cumprod",
        "round",
        "clip",
        "copy",
        "tolist",
        "tobytes",
        "dot",
        "nonzero",
        "searchsorted",
        "trace",
        "ptp",
        "flatten",
        "repeat",
        "take",
        "compress",
        "conj",
        "conjugate",
        "item",
        "dump",
        "dumps",
        "tofile",
        "__repr__",
        "__str__",
        "__len__",
        "__format__",
        "__eq__",
        "__contains__",
        "__copy__",
        "__deepcopy__",
    }
)
# pandas >= 3 (copy-on-write): a method changes its object only through ``inplace=True``
# or one of these; results of other methods never write back.
_PANDAS_CHANGING = frozenset(
    {
        "insert",
        "pop",
        "update",
        "__setitem__",
        "__delitem__",
        "set_flags",
        "_set_value",
        "_update_inplace",
    }
)
# Conventional read-only methods of other objects (estimators, containers).
_OBJECT_PURE = frozenset(
    {
        "predict",
        "predict_proba",
        "predict_log_proba",
        "decision_function",
        "score",
        "score_samples",
        "transform",
        "inverse_transform",
        "get_params",
        "get_feature_names_out",
        "get",
        "keys",
        "values",
        "items",
        "copy",
        "count",
        "index",
        "__repr__",
        "__str__",
        "format",
        "startswith",
        "endswith",
        "split",
        "join",
        "strip",
        "lower",
        "upper",
        "replace",
        "encode",
        "decode",
        "head",
        "tail",
        "describe",
        "summary",
        "__len__",
        "to_dict",
        "to_json",
        "isoformat",
        "timestamp",
    }
)


def pandas_cow() -> bool:
    """Whether pandas copies on write (then results of methods never write back)."""
    pd = sys.modules.get("pandas")
    if pd is None:
        return True
    try:
        if int(str(pd.__version__).split(".", 1)[0]) >= 3:
            return True
        return bool(pd.options.mode.copy_on_write)
    except (AttributeError, ValueError):
        return False


def is_plain_function(obj: object) -> bool:
    """A function, method or class: calling it does not change it."""
    return isinstance(obj, types.FunctionType | types.BuiltinFunctionType | types.MethodType | type)


def may_change(obj: Any, use: NameUse | None) -> bool:
    """Whether the cell's uses can change data ``obj`` (then it is hashed after the cell)."""
    if use is None or use.mutate or use.escape:
        return True
    np = sys.modules.get("numpy")
    is_array = np is not None and isinstance(obj, np.ndarray)
    for m in use.methods:
        if m.inplace:
            return True
        if is_array:
            if m.method in _NUMPY_CHANGING:
                return True
            if m.method in _NUMPY_VIEWS:
                if m.result_escapes:
                    return True
            elif m.method not in _NUMPY_PURE:
                return True
        elif m.method in _PANDAS_CHANGING or (m.result_escapes and not pandas_cow()):
            return True
    return False


def changes_object(obj: Any, use: NameUse | None) -> bool:
    """Whether an opaque object (a model, a list...) is changed by the cell, as far as we see."""
    if use is None:
        return False
    if use.mutate:
        return True
    return any(m.inplace or m.method not in _OBJECT_PURE for m in use.methods)
