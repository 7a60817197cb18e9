"""Tests of the Discord layer, and the harness that drives a bot offline (``harness.py``)."""
