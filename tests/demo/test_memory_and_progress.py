"""The RSS sampler behind the bench's memory column, and the plain-text progress bar."""

from __future__ import annotations

import io
import os
import subprocess
import sys

from cutover.demo.memory import PeakRssSampler
from cutover.demo.progress import ProgressBar

ALLOCATE_200_MB = (
    "import sys, time; block = bytearray(200 * 1024 * 1024); print('ready', flush=True); "
    "sys.stdin.readline()"
)


def test_peak_counts_each_group_and_catches_a_child_that_grows() -> None:
    """A child holding 200 MB is in its group's peak; the client's own RSS is counted too."""
    child = subprocess.Popen(
        [sys.executable, "-c", ALLOCATE_200_MB], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert child.stdout is not None
    assert child.stdin is not None
    try:
        assert b"ready\n" == child.stdout.readline()
        groups = {"client": {os.getpid()}, "engine": {child.pid}}
        with PeakRssSampler(lambda: groups, interval_s=0.01) as sampler:
            pass
        peak = sampler.peak
    finally:
        child.stdin.close()
        child.wait(5)
        child.stdout.close()
    assert {"client", "engine"} == set(peak.by_group_mb)
    assert peak.by_group_mb["engine"] > 200
    assert peak.total_mb == sum(peak.by_group_mb.values())
    assert 2 == peak.processes
    assert peak.samples >= 2


def test_a_process_that_is_gone_counts_as_nothing() -> None:
    """A dead id in a group is skipped, not an error."""
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    with PeakRssSampler(lambda: {"engine": {done.pid}}) as sampler:
        pass
    assert 0.0 == sampler.peak.total_mb
    assert 0 == sampler.peak.processes
    assert sampler.peak.samples >= 2


def test_progress_on_a_pipe_writes_a_line_per_label_and_ends_full() -> None:
    """Not a terminal: no carriage returns, one line per new label, then 100 %."""
    stream = io.StringIO()
    bar = ProgressBar(4, "bench", stream)
    bar.set_label("small · legacy")
    bar.advance(2)
    bar.set_label("small · legacy")  # same label: no new line
    bar.set_label("small · celery")
    bar.advance(2)
    bar.close()
    lines = stream.getvalue().splitlines()
    assert 3 == len(lines)
    assert "\r" not in stream.getvalue()
    assert lines[0].startswith("bench [----------------------------]   0%  0/4  small · legacy")
    assert lines[1].startswith("bench [##############--------------]  50%  2/4  small · celery")
    assert lines[2].startswith("bench [############################] 100%  4/4  done in ")


def test_progress_on_a_terminal_redraws_in_place() -> None:
    """A terminal gets carriage returns and a final newline."""

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Terminal()
    bar = ProgressBar(2, "demo", stream)
    bar.advance()
    bar.close()
    text = stream.getvalue()
    assert text.startswith("\rdemo [##############--------------]  50%  1/2")
    assert text.endswith("\n")
