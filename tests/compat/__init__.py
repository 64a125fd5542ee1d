"""Tests of the compat shim."""
