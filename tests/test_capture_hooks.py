"""Nothing the tracker does in a cell hook raises into the user's cell.

Each step of the hooks (modules of their own since the recorder was split) is made to
fail in a real kernel, by replacing it with one that raises (a bug of ours, injected);
the user's cell runs as it would untracked, ``%track status`` says what failed, the
record keeps what could be worked out, and the next cells are recorded again.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tracker
from tracker.hashing import hash_data

from .capture_harness import Kernel, Reply

pytestmark = [pytest.mark.kernel, pytest.mark.slow]

INJECT = """
import importlib
def _inject(module, name, error):
    mod = importlib.import_module(module)
    real = getattr(mod, name)
    def broken(*args, **kwargs):
        raise error(f"injected failure in {name}")
    setattr(mod, name, broken)
    return mod, name, real
"""

# (module, step, exception, what %track status names, the probe cell's record kept)
STEPS = [
    ("tracker.capture._recorder", "analyze", "RuntimeError", "preparing the cell record", False),
    (
        "tracker.capture._recorder",
        "observe_reads",
        "RuntimeError",
        "preparing the cell record",
        False,
    ),
    (
        "tracker.capture._recorder",
        "observe_reads",
        "KeyboardInterrupt",
        "preparing the cell record",
        False,
    ),
    (
        "tracker.capture._recorder",
        "collect_outputs",
        "RuntimeError",
        "hashing the cell's outputs",
        True,
    ),
    (
        "tracker.capture._open_files",
        "open_for_writing",
        "RuntimeError",
        "hashing the files the cell wrote",
        True,
    ),
    ("tracker.capture._recorder", "fingerprint", "RuntimeError", "recording the cell", False),
    ("tracker.capture._recorder", "cell_ops", "RuntimeError", "recording the cell", False),
    (
        "tracker.capture._recorder",
        "attribute",
        "RuntimeError",
        "attributing logged params and metrics to the cell",
        True,
    ),
]


def _ok(reply: Reply) -> Reply:
    assert reply.status == "ok", (reply.ename, reply.evalue, reply.stderr)
    assert reply.ename is None
    return reply


def _probe(i: int) -> str:
    return (
        f"v = np.arange(4.0)\n"
        f"v[0] = 7\n"
        f"with open('out-{i}.txt', 'w') as f:\n"
        f"    f.write('x')\n"
        f"tracker.log_metric('m', float(v.sum()))\n"
        f"print('probe', {i}, v.sum())"
    )


def test_a_failing_step_never_fails_the_cell(tmp_path: Path) -> None:
    expected = np.arange(4.0)
    expected[0] = 7
    with Kernel(tmp_path) as kernel:
        _ok(kernel.run("%load_ext tracker\n%track on --name hooks-test"))
        _ok(kernel.run("import numpy as np\nimport tracker\n" + INJECT))
        for i, (module, step, error, where, _) in enumerate(STEPS):
            # Given one step of the hooks broken,
            _ok(kernel.run(f"_saved = _inject({module!r}, {step!r}, {error})"))
            # the user's cell runs, with its own outcome,
            probe = _ok(kernel.run(_probe(i)))
            assert f"probe {i} 13.0" in probe.stdout, (step, probe.stdout, probe.stderr)
            assert (tmp_path / f"out-{i}.txt").read_text() == "x"
            # and, the step repaired, the tracker says what failed.
            _ok(kernel.run("setattr(*_saved)"))
            status = _ok(kernel.run("%track status")).stdout
            assert f"last tracker error: {where}: {error}: injected failure in {step}" in (
                status
            ), (step, status)
        # Tracking goes on: the next cell is recorded in full.
        _ok(kernel.run("after = np.ones(2)"))
        _ok(kernel.run("%track sync"))

    (summary,) = tracker.search_runs(kind="session", name="hooks-test")
    cells = tracker.get_run(summary.id).cells
    by_probe = {c.source: c for c in cells if c.source.startswith("v = np.arange")}
    for i, (_, step, _, _, kept) in enumerate(STEPS):
        record = by_probe.get(_probe(i))
        assert (record is not None) is kept, step
        if record is None:
            continue
        assert record.status == "ok"
        # What could be worked out is kept; what the broken step did is left out.
        assert ("v" in record.outputs) is (step != "collect_outputs"), step
        assert (f"./out-{i}.txt" in record.outputs) is (step != "open_for_writing"), step
        assert record.metrics == ({} if step == "attribute" else {"m": 13.0}), step
        if "v" in record.outputs:
            assert record.outputs["v"].digest == hash_data(expected).digest
    last = cells[-1]
    assert last.source == "after = np.ones(2)"
    assert last.outputs["after"].digest == hash_data(np.ones(2)).digest
