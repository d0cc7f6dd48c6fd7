"""Package hygiene: the public surface, lazy imports, typing marker."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import tracker


def test_all_lists_exactly_the_public_names() -> None:
    typing_helpers = {"annotations", "TYPE_CHECKING", "Any"}  # from the module's own imports
    public = {n for n in dir(tracker) if not n.startswith("_")} - typing_helpers
    modules = {n for n in public if type(getattr(tracker, n)).__name__ == "module"}
    assert set(tracker.__all__) == (public - modules) | {"__version__"} | set(tracker._LAZY)
    for name in tracker.__all__:
        assert getattr(tracker, name) is not None


def test_every_public_name_has_a_docstring() -> None:
    for name in tracker.__all__:
        obj = getattr(tracker, name)
        if callable(obj):
            assert obj.__doc__, f"tracker.{name} has no docstring"


def test_import_tracker_stays_light() -> None:
    code = (
        "import sys, json, tracker; "
        "print(json.dumps(sorted(m for m in ('optuna', 'plotly', 'ipywidgets', 'tornado', "
        "'jupyter_server', 'IPython', 'sklearn') if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_typed_package() -> None:
    assert (Path(tracker.__file__).parent / "py.typed").exists()
    assert tracker.__version__
