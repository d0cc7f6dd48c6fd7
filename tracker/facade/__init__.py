"""The notebook facades: what a notebook calls as ``tracker.optimize``, ``tracker.model_card``...

Each facade is a thin function that resolves the notebook's context (the active run, the
process's store, whether this kernel can display widgets) and calls the package that does
the work:

=====================  =========================  ============================================
``tracker.``           here                       does the work
=====================  =========================  ============================================
``optimize``           :mod:`.search`             :mod:`tracker.tuning` (the search), with a
                                                  :mod:`tracker.widgets` progress widget in
                                                  notebooks
``model_card``         :mod:`.cards`              :mod:`tracker.cards` (takes a store, never the
``evaluate_slices``                               run API, so the server can build cards too)
=====================  =========================  ============================================

They live together, above every package they call, because each needs something the
layers below must not import: the run API next to the cards (which the server imports),
the widgets next to the optimizer (which sits below them). Facades to come (``log_model``,
``register_model``) join them here. ``tracker/__init__.py`` loads each on first use
(``_LAZY``), so ``import tracker`` pays for none of them; the server never imports this
package (import-linter checks both).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tracker.facade.cards import evaluate_slices, model_card
    from tracker.facade.search import in_notebook, optimize, report

__all__ = ["evaluate_slices", "in_notebook", "model_card", "optimize", "report"]

# Loaded on first use: the search facade imports optuna, the cards facade does not.
_WHERE = {
    "evaluate_slices": "tracker.facade.cards",
    "model_card": "tracker.facade.cards",
    "in_notebook": "tracker.facade.search",
    "optimize": "tracker.facade.search",
    "report": "tracker.facade.search",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'tracker.facade' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
