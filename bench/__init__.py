"""Benchmarks: `make bench` runs `python -m bench.scan_throughput`."""
