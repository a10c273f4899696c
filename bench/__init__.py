"""Benchmarks for thpverify (issue 7): `python -m bench`; see bench/run.py."""
