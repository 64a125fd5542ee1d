"""Tests of the flags package: model, stores, live table, routing, adaptive policy."""
