"""Lineage of results: which cells and data produced a record (built with notebook capture)."""
