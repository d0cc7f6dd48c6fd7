"""The wheel holds the package, the prebuilt panel and the server switch, and nothing else.

Built as a release is built (``pip wheel .``, without build isolation so nothing is
downloaded; the panel must be built first, ``make labext``), then listed: a stray file
(a merge's ``*.orig``, an editor backup, a cache, a test fixture, ``node_modules``, a
source map) fails, and so does a wheel over its size budget.
"""

from __future__ import annotations

import fnmatch
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tracker._version import __version__

from .conftest import IN_CI

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PANEL = ROOT / "tracker" / "labextension"
DATA = f"jupyterlab_tracker-{__version__}.data/data/"
LABEXT = DATA + "share/jupyter/labextensions/jupyterlab-tracker/"

#: Compressed size limit. The wheel is Python source and ~70 KB of panel JavaScript:
#: 377 KB when this test was written; stray bulk (node_modules, source maps, data files)
#: would be megabytes.
BUDGET_BYTES = 600 * 1024

#: Where each file may be, by its path in the wheel.
ALLOWED = [
    "tracker/*",
    f"jupyterlab_tracker-{__version__}.dist-info/*",
    LABEXT + "package.json",
    LABEXT + "static/*.js",
    LABEXT + "static/third-party-licenses.json",
    LABEXT + "schemas/jupyterlab-tracker/plugin.json",
    # Written by JupyterLab's builder on purpose: jupyterlab_server reads it to report the
    # version of the panel's settings schema (settings_utils._get_version); every prebuilt
    # extension ships one (ipywidgets' jupyterlab-manager does).
    LABEXT + "schemas/jupyterlab-tracker/package.json.orig",
    DATA + "etc/jupyter/jupyter_server_config.d/jupyterlab-tracker.json",
]

#: What must never ship, wherever it is.
STRAY = [
    "*.orig",
    "*.rej",
    "*.bak",
    "*.swp",
    "*~",
    "*.pyc",
    "*.pyo",
    "*/__pycache__/*",
    "*/node_modules/*",
    "*.map",
    "*.tsbuildinfo",
    "*.ipynb",
    "*.db",
    "*.db-wal",
    "*.spool",
    "*.lock",
    "*/.tracker/*",
    "tests/*",
    "*/tests/*",
    "*conftest.py",
    "*.DS_Store",
]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[zipfile.ZipFile]:
    if not (PANEL / "static" / "style.js").exists():
        message = "the panel is not built: run `make labext` first"
        if IN_CI:
            pytest.fail(f"CI must check the wheel: {message}")
        pytest.skip(message)
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (path,) = out.glob("jupyterlab_tracker-*.whl")
    with zipfile.ZipFile(path) as whl:
        yield whl


def _names(whl: zipfile.ZipFile) -> list[str]:
    return [n for n in whl.namelist() if not n.endswith("/")]


def test_the_wheel_holds_no_stray_file(wheel: zipfile.ZipFile) -> None:
    names = _names(wheel)
    misplaced = [n for n in names if not any(fnmatch.fnmatch(n, p) for p in ALLOWED)]
    assert misplaced == []
    stray = [
        n
        for n in names
        if any(fnmatch.fnmatch(n, p) for p in STRAY)
        and n != LABEXT + "schemas/jupyterlab-tracker/package.json.orig"
    ]
    assert stray == []
    # the package's own files are Python sources, its typing marker and the migration
    # template: nothing the package directory happened to hold
    odd = [
        n
        for n in names
        if n.startswith("tracker/") and not re.search(r"(\.py|/py\.typed|\.py\.mako)$", n)
    ]
    assert odd == []


def test_the_wheel_holds_what_a_user_needs(wheel: zipfile.ZipFile) -> None:
    names = set(_names(wheel))
    tracked = subprocess.run(
        ["git", "ls-files", "tracker"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    sources = {n for n in tracked if n.endswith((".py", "py.typed", ".mako"))}
    assert sources - names == set()  # every module in git ships, migrations included
    assert {
        "tracker/__main__.py",  # python -m tracker
        LABEXT + "package.json",
        LABEXT + "static/style.js",
        DATA + "etc/jupyter/jupyter_server_config.d/jupyterlab-tracker.json",
    } <= names
    assert any(n.startswith(LABEXT + "static/remoteEntry.") for n in names)
    entry_points = wheel.read(f"jupyterlab_tracker-{__version__}.dist-info/entry_points.txt")
    assert "tracker = tracker.cli:main" in entry_points.decode()
    metadata = wheel.read(f"jupyterlab_tracker-{__version__}.dist-info/METADATA").decode()
    assert "Requires-Dist: filelock>=3.30" in metadata


def test_the_wheel_stays_small(wheel: zipfile.ZipFile) -> None:
    infos = wheel.infolist()
    size = sum(i.compress_size for i in infos)
    biggest = sorted(infos, key=lambda i: -i.compress_size)[:5]
    assert size <= BUDGET_BYTES, f"{size / 1024:.0f} KB; biggest: " + ", ".join(
        f"{i.filename} ({i.compress_size / 1024:.0f} KB)" for i in biggest
    )
