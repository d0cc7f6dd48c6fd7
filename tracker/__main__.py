"""``python -m tracker``: the ``tracker`` command where its script is not on PATH."""

from __future__ import annotations

import sys

from tracker.cli import main

if __name__ == "__main__":
    sys.exit(main())
