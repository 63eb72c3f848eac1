"""Hyperparameter sweeps: the spec and its defaults, the outcome and state (no Ray), the Ray Tune trainable,
the local Ray, the time estimate, the sweep's own process with its request and status, and its standby
(started ahead of need, with Ray's workers warmed up by warm_worker).

Ray is imported only here (an import-linter contract in pyproject.toml says so).
"""
