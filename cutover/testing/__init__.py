"""Test support for code that uses the shim: the pytest plugin of cutover.

:mod:`cutover.testing.plugin` is registered as a ``pytest11`` entry point (``-p
cutover.testing.plugin`` loads it where the package is not installed). It runs the tests
marked ``@pytest.mark.cutover`` once per route (legacy, celery, ray) on real engines, and in
raise-on-mismatch mode fails a call whose result differs from legacy's, with the diff:
a team's existing test suite becomes its equivalence suite. Unmarked tests are left alone.

Importing this package imports nothing else.
"""

from __future__ import annotations
