"""The readiness verdict: is a shadow candidate proven good enough to take calls?

Offline analysis of shadow records, kept out of the shim (``compat/`` only records):

- :mod:`cutover.verdict.report`: :func:`~cutover.verdict.report.build_report`, the numbers of
  each worker and route pair and its verdict, as ``cutover shadow report`` prints them;
- :mod:`cutover.verdict.items`: which items of batch calls differed (index, redacted input,
  diff lines, counts), a part of that report.
- :mod:`cutover.verdict.split` and :mod:`cutover.verdict.latency`: the latency split (queue
  wait and execution) in the report, and its informational criteria.

Importing this package imports none of them.
"""

from __future__ import annotations
