"""Notebook widgets: live search progress (the only package importing ipywidgets)."""
