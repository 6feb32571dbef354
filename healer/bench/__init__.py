"""Benchmarks: run scenarios against the simulated cluster and score what the healer did."""
