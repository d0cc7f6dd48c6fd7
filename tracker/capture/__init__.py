"""Notebook capture: ``%track`` magics and per-cell records (the only package importing IPython)."""
