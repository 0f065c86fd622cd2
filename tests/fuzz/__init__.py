"""Fuzzing in the suite: hypothesis property tests and AppTest random walks (see conftest.py)."""
