"""Experiment tracking and constrained multi-metric search inside JupyterLab."""

from __future__ import annotations

from tracker._version import __version__

__all__ = ["__version__"]
