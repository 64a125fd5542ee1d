"""Tests of cutover.ops: rollout, guard, metrics, the HTML report, and logging."""
