"""Benchmarks: SpecStar side by side with the `specstar` package on PyPI and the raw drivers."""
