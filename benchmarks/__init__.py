"""Benchmarks: `python -m benchmarks <capability|all> --profile small|medium|large [--json]`. Not tests:
numbers live here (and in RESULTS.md), never in assertions."""
