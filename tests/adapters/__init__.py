"""Tests of the execution adapters (engines, codec, task references)."""
