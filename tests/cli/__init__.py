"""Tests of the cutover command line."""
