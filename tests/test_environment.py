"""What a run records about its environment: the installed-distribution scan.

``tracker.environment`` reads ``*.dist-info`` directories itself (a directory scan and two
small files each) instead of ``importlib.metadata.packages_distributions()``, whose
pathlib work cost the first ``start_run`` 0.4-3 s. It must give the same answer.
"""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

from tracker import environment


def test_the_scan_maps_import_names_to_the_same_distributions_and_versions() -> None:
    ours = environment._distributions_by_module()
    theirs = metadata.packages_distributions()
    assert {k: {d for d, _ in v} for k, v in ours.items() if v} == {
        k: set(v) for k, v in theirs.items() if k.isidentifier()
    }
    for name in ("numpy", "sklearn", "sqlalchemy", "optuna"):
        for dist, version in ours[name]:
            assert version == metadata.version(dist)


def test_imported_packages_name_what_was_imported() -> None:
    import sklearn

    packages = environment.imported_packages()
    assert packages["scikit-learn"] == sklearn.__version__
    assert "numpy" in packages


def test_a_forked_child_scans_on_its_own() -> None:
    # The prefetch thread and its lock do not survive a fork; the child must not hang.
    code = (
        "import os, tracker.run, tracker.environment as e\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    e._distributions_by_module(); os._exit(0)\n"
        "_, status = os.waitpid(pid, 0); print(os.waitstatus_to_exitcode(status))\n"
    )
    if not hasattr(__import__("os"), "fork"):
        return
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == "0"
