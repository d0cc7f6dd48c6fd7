"""Jupyter server extension: the REST API under ``/tracker/api/v1/`` (issue: side panel)."""
