"""Hyperparameter sweeps: the spec and its defaults, the outcome and state (no Ray), the Ray Tune trainable,
the local Ray, the time estimate.

Ray is imported only here (an import-linter contract in pyproject.toml says so).
"""
