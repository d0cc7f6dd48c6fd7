"""Every Python example in README.md and docs/*.md runs as written.

The rule (one rule for every page):

* Each fenced block opened with ```` ```python ```` runs **on its own**: a fresh IPython
  kernel (nbclient, the ``python3`` kernel of the interpreter running the tests) in a
  fresh temporary directory, with ``TRACKER_STORE`` and ``TRACKER_SPOOL_DIR`` pointing
  into that directory, so it never touches the user's store. A reader copies one block
  into a notebook and expects it to work, so a block never relies on an earlier one: it
  imports what it uses and loads its data from what ships with scikit-learn
  (``load_digits``, ``load_breast_cancer``...), and scores models on a held-out split.
  A kernel rather than a script, because the docs are read by notebook users and some
  blocks use IPython magics (``%load_ext tracker``, ``%track on``).
* Inside a block, a line ``# %%`` starts a new notebook cell (the "percent" format of
  Jupytext and VS Code), for examples that are about what happens between cells.
* A block directly preceded by the line ``<!-- fragment -->`` (or ``<!-- fragment: why
  -->``; blank lines in between are allowed) is a deliberate fragment and is skipped
  with its reason. Fragments stay few: :func:`test_fragments_are_few`.
* The one PostgreSQL URL the docs use, ``postgresql://postgres@127.0.0.1:5432/test``,
  is where the project's machines run PostgreSQL. A block naming it runs against a fresh
  database of that server (created and dropped here, the URL rewritten to it) so runs do
  not pile up in ``test``; without the server it skips, and under ``CI=true`` it fails
  (the ``pg_url`` fixture of tests/conftest.py).
* Besides running, :func:`test_models_are_scored_on_held_out_data` reads every block's
  syntax: nothing is scored on the very data it was fitted on, and nothing is
  downloaded (``fetch_*`` needs the internet). Python in a fence without a language
  would escape all this, so :func:`test_unlabelled_blocks_are_not_python` refuses it.

Each block is one test, named by page and line (``README.md:31``), so a failure says
where to look. docs/reference/ is generated from docstrings and is not scanned.
"""

from __future__ import annotations

import ast
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_OPEN = re.compile(r"^(?P<indent>\s*)```(?P<lang>[A-Za-z0-9_+-]*)[^`]*$")
_CLOSE = re.compile(r"^\s*```\s*$")
_FRAGMENT = re.compile(r"^\s*<!--\s*fragment\b:?\s*(?P<why>.*?)\s*-->\s*$")
_CELL_BREAK = re.compile(r"^# %%.*$")
RUN_LANGS = {"python", "py", "python3", "ipython"}

#: The documented PostgreSQL URL (see the module docstring).
DOC_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
#: Fragments allowed: a tenth of the blocks, and at least one.
FRAGMENT_SHARE = 0.10
#: Seconds one cell may take. Generous: the machines running the tests are shared and
#: loaded; how fast an example is belongs to the benchmarks, not here.
CELL_TIMEOUT = 600


@dataclass(frozen=True)
class Block:
    """One fenced Python block of a page."""

    page: Path
    line: int  # of the opening fence, 1-based
    code: str
    fragment: str | None  # the reason, when the block is marked as a fragment

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def cells(self) -> list[str]:
        """The block's notebook cells (split at ``# %%`` lines)."""
        cells: list[list[str]] = [[]]
        for line in self.code.splitlines():
            if _CELL_BREAK.match(line):
                cells.append([])
            else:
                cells[-1].append(line)
        return ["\n".join(c).strip("\n") for c in cells if "".join(c).strip()]


def blocks_of(page: Path, langs: set[str] = RUN_LANGS) -> list[Block]:
    """The fenced blocks of ``page`` in one of ``langs`` (Python), with fragment marks."""
    lines = page.read_text(encoding="utf-8").splitlines()
    out: list[Block] = []
    i = 0
    while i < len(lines):
        m = _OPEN.match(lines[i])
        if not m:
            i += 1
            continue
        start, indent = i, len(m["indent"])
        i += 1
        body: list[str] = []
        while i < len(lines) and not _CLOSE.match(lines[i]):
            body.append(lines[i][indent:] if lines[i][:indent].isspace() else lines[i])
            i += 1
        i += 1  # the closing fence
        if m["lang"].lower() not in langs:
            continue
        before = start - 1
        while before >= 0 and not lines[before].strip():
            before -= 1
        mark = _FRAGMENT.match(lines[before]) if before >= 0 else None
        why = (mark["why"] or "marked as a fragment") if mark else None
        out.append(Block(page, start + 1, "\n".join(body), why))
    return out


BLOCKS = [b for page in PAGES for b in blocks_of(page)]


def test_pages_have_examples() -> None:
    """The scan finds the examples (a broken fence pattern would pass every test)."""
    assert any(b.page.name == "README.md" for b in BLOCKS)
    assert len(BLOCKS) >= 10, [b.name for b in BLOCKS]


def test_unlabelled_blocks_are_not_python() -> None:
    """Python code in a fence without a language would escape these tests: label it."""
    hidden = []
    for page in PAGES:
        for block in blocks_of(page, langs={""}):
            try:
                _python_of(block.code)
            except SyntaxError:
                continue  # output, a tree, a shell line: not Python
            if "tracker" in block.code:
                hidden.append(block.name)
    assert not hidden, f"label these blocks ```python (or ```text if they are output): {hidden}"


def test_fragments_are_few() -> None:
    """Skipping an example is the exception: at most a tenth of them (and at least one)."""
    fragments = [f"{b.name} ({b.fragment})" for b in BLOCKS if b.fragment]
    allowed = max(1, math.floor(FRAGMENT_SHARE * len(BLOCKS)))
    assert len(fragments) <= allowed, (
        f"{len(fragments)} of {len(BLOCKS)} examples are marked <!-- fragment --> "
        f"(at most {allowed}): make some runnable: {fragments}"
    )


def _python_of(cell: str) -> ast.Module:
    """The cell as Python, with IPython syntax (magics) turned into calls first."""
    from IPython.core.inputtransformer2 import TransformerManager

    return ast.parse(TransformerManager().transform_cell(cell))


def _first_args(tree: ast.AST, method: str) -> set[str]:
    """Source of the first argument of every ``<x>.method(...)`` call in ``tree``."""
    return {
        ast.unparse(node.args[0])
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == method
        and node.args
    }


@pytest.mark.parametrize("block", [b for b in BLOCKS if not b.fragment], ids=lambda b: b.name)
def test_models_are_scored_on_held_out_data(block: Block) -> None:
    """No ``model.fit(X, ...).score(X, ...)`` on the same data; no dataset downloads."""
    trees = [_python_of(c) for c in block.cells]
    fitted = set().union(*(_first_args(t, "fit") for t in trees))
    scored = set().union(*(_first_args(t, "score") for t in trees))
    assert not fitted & scored, (
        f"{block.name} scores a model on the data it was fitted on ({fitted & scored}): "
        "split the data (train_test_split) and score on the held-out part"
    )
    assert "fetch_" not in block.code, f"{block.name} downloads data; use sklearn's load_*"


def _notebook(block: Block, pg_url: str | None) -> nbformat.NotebookNode:
    cells = block.cells
    if pg_url is not None:
        cells = [c.replace(DOC_PG_URL, pg_url) for c in cells]
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])


def _run_params() -> list[object]:
    """Each block as a test parameter, marked with what it needs."""
    return [
        pytest.param(b, marks=[pytest.mark.postgres] if DOC_PG_URL in b.code else [], id=b.name)
        for b in BLOCKS
    ]


@pytest.mark.kernel
@pytest.mark.slow
@pytest.mark.parametrize("block", _run_params())
def test_example_runs(block: Block, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """The block runs in a fresh kernel without an error (see the module docstring)."""
    if block.fragment:
        pytest.skip(f"{block.name} is a fragment: {block.fragment}")
    pg_url = None
    if DOC_PG_URL in block.code:  # the fixture skips (fails under CI) without a server
        pg_url = str(request.getfixturevalue("pg_url"))
    work = tmp_path / "work"
    work.mkdir()
    env = dict(os.environ)
    for name in ("JPY_SESSION_NAME", "TRACKER_ARTIFACTS"):
        env.pop(name, None)
    env.update(
        TRACKER_STORE=f"sqlite:///{tmp_path / 'store' / 'tracker.db'}",
        TRACKER_SPOOL_DIR=str(tmp_path / "spool"),
        MPLBACKEND="Agg",
    )
    nb = _notebook(block, pg_url)
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        allow_errors=False,
        resources={"metadata": {"path": str(work)}},
    )
    try:
        client.execute(env=env)
    except CellExecutionError as exc:
        pytest.fail(f"{block.name}: the example fails:\n{exc}", pytrace=False)
