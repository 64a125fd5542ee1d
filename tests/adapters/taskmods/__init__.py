"""Importable sample task modules: what ``CUTOVER_TASK_MODULES`` allows in these tests."""
