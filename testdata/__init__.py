"""Generators of test inputs shared by tests/ and bench/: digits drawn as on the Draw canvas
(`canvas_digits`), and a handwriting folder in another hand (`styled_handwriting`).

A package at the repo root, so `from testdata.canvas_digits import ...` works from a test (pytest's
pythonpath holds the root) and from a bench script (which puts the root on sys.path), and nothing
has to put tests/ on the path.
"""
