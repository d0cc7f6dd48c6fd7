"""Package hygiene: the public surface, lazy imports, typing marker."""

from __future__ import annotations

import importlib
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


REFERENCE = Path(__file__).resolve().parent.parent / "docs" / "reference"


def _documented_objects() -> dict[str, object]:
    """Each ``::: dotted.name`` of docs/reference/*.md, imported."""
    found: dict[str, object] = {}
    for page in sorted(REFERENCE.glob("*.md")):
        for line in page.read_text().splitlines():
            if not line.startswith("::: "):
                continue
            path = line[4:].strip()
            module, _, attr = path.rpartition(".")
            found[path] = getattr(importlib.import_module(module), attr)
    return found


def _unwrapped(obj: object) -> list[object]:
    chain = [obj]
    while hasattr(chain[-1], "__wrapped__"):
        chain.append(chain[-1].__wrapped__)
    return chain


def test_the_api_reference_covers_every_public_name() -> None:
    # Given the docs site's reference pages, when every `:::` block is resolved, then each
    # name in tracker.__all__ is rendered: itself, or what it wraps (functools.wraps), so
    # the reference shows the real signature.
    documented = _documented_objects()
    rendered = [id(o) for o in documented.values()]
    missing = [
        name
        for name in tracker.__all__
        if name != "__version__"
        and not any(id(o) in rendered for o in _unwrapped(getattr(tracker, name)))
    ]
    assert not missing, f"add a `::: tracker.NAME` block to a page of docs/reference/: {missing}"
    # The version is a string, not an object with a docstring: the index page names it.
    assert "tracker.__version__" in (REFERENCE / "index.md").read_text()
