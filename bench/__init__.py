"""Benchmarks, each run as a script (`.venv/bin/python bench/speed.py`); a package so that one can import
another's parts (`bench.speed_ablation`) with only the repo root on sys.path."""
