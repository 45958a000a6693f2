"""Benchmarks of launchops against its peers (issue 6): `python -m benchmarks` or `make bench`."""
