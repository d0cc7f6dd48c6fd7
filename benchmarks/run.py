"""Run every benchmark and print the figures side by side (``make bench``).

Each ``benchmarks/bench_*.py`` module exposes ``run(quick: bool = False) -> list[dict]``;
every dict is one row (a ``bench`` name, our figures, the peers' figures, their ratios,
the ``target`` and whether it is met as ``ok``). Results are also written to
``benchmarks/results/latest.json``.

Usage: python benchmarks/run.py [--quick] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _load(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = mod
    spec.loader.exec_module(mod)
    return mod


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    return str(v)


def print_rows(title: str, rows: list[dict[str, Any]]) -> None:
    print(f"\n== {title} ==")
    for row in rows:
        name = row.get("bench", "?")
        rest = "  ".join(f"{k}={_fmt(v)}" for k, v in row.items() if k != "bench")
        print(f"  {name}: {rest}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke run, not figures")
    ap.add_argument("--only", nargs="*", help="run only these modules (e.g. store hashing)")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(HERE))
    mods = sorted(HERE.glob("bench_*.py"))
    if args.only:
        mods = [m for m in mods if m.stem.removeprefix("bench_") in args.only]
    results: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "quick": args.quick,
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "benchmarks": {},
    }
    failed = False
    for path in mods:
        t0 = time.perf_counter()
        try:
            rows = _load(path).run(quick=args.quick)
        except Exception:
            traceback.print_exc()
            failed = True
            continue
        results["benchmarks"][path.stem] = rows
        print_rows(f"{path.stem} ({time.perf_counter() - t0:.0f} s)", rows)
    missed = [
        (name, r["bench"])
        for name, rows in results["benchmarks"].items()
        for r in rows
        if r.get("ok") is False
    ]
    print("\n== targets ==")
    print("  all met" if not missed else "\n".join(f"  MISSED: {n}: {b}" for n, b in missed))
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=1, default=str))
    print(f"\nwritten to {out / 'latest.json'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
