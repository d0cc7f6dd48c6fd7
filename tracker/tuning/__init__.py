"""Constrained multi-metric search on Optuna (the only package importing optuna)."""
