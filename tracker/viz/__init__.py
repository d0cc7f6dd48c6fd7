"""Plots of runs and searches (the only package importing plotly)."""
