"""Tests of the pytest plugin (cutover.testing)."""
