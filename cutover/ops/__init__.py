"""Operating the cutover: what people run and watch during cutover week.

One job per module:

- :mod:`cutover.ops.evidence`: which candidate a worker is proving, and the shadow verdict
  on it (the one rule ``promote``, the guard and the HTML report share);
- :mod:`cutover.ops.rollout`: the rollout plan, ``promote`` (gated by the verdict) and
  ``rollback``, written through the flag store's compare-and-set and audit trail;
- :mod:`cutover.ops.guard_settings` and :mod:`cutover.ops.guard`: the automatic guard that
  rolls a worker back when its recent shadow numbers cross its thresholds;
  :mod:`cutover.ops.guard_task` runs it as a Celery task on Beat's schedule;
- :mod:`cutover.ops.prometheus`: a Prometheus collector over :mod:`compat.metrics` and the
  flags, served by ``cutover metrics`` or mounted in a host application;
- :mod:`cutover.ops.svg` and :mod:`cutover.ops.html_report`: ``cutover report --html``.

Importing this package imports none of them (the worker's Celery app, :mod:`cutover.celery_app`,
imports the guard's task and settings only).
"""
