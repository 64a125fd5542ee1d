"""Multihost tests: Celery workers and Ray nodes on other hosts (Linux network namespaces)."""
