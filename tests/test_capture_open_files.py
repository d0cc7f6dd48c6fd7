"""Files left open for writing across cells (tracker.capture._open_files), in this process."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tracker.capture._open_files import OpenWrites, open_for_writing

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="no descriptor paths to ask for")


def test_only_handles_open_for_writing_count(tmp_path: Path) -> None:
    written, read, both = (tmp_path / n for n in ("w.txt", "r.txt", "rw.txt"))
    read.write_text("x")
    both.write_text("y")
    with open(written, "w"), open(read), open(both, "r+"):
        assert open_for_writing([str(written), str(read), str(both)]) == {
            str(written),
            str(both),
        }
    assert open_for_writing([str(written), str(both)]) == set()  # closed now
    assert open_for_writing([]) == set()


def test_a_file_left_open_is_an_output_of_the_cell_that_closes_it(tmp_path: Path) -> None:
    path = str(tmp_path / "log.txt")
    writes = OpenWrites()
    fh = open(path, "w")  # noqa: SIM115  (left open on purpose: that is the case)
    try:
        # The cell that opened it leaves it open: not an output yet, remembered.
        assert writes.settle([path]) == ({path}, [])
        # A cell that writes nothing while it stays open: still nothing.
        assert writes.settle([]) == (set(), [])
    finally:
        fh.close()
    # The cell during which it was closed gets it.
    assert writes.settle([]) == (set(), [path])
    assert writes.pending == {}


def test_a_file_closed_during_an_unrecorded_cell_is_nobodys_output(tmp_path: Path) -> None:
    path = str(tmp_path / "log.txt")
    writes = OpenWrites()
    with open(path, "w"):
        writes.settle([path])
        writes.forget_closed()  # still open: kept
        assert path in writes.pending
    writes.forget_closed()
    assert writes.settle([]) == (set(), [])
