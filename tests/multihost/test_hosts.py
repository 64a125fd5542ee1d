"""The hosts themselves: a namespace is reachable only over its link, a partition drops
packets silently (a connect times out, it is not refused), a heal restores the link, and the
suite refuses to pretend: not root is a skip on a laptop and a failure under ``CI=true``."""

from __future__ import annotations

import socket
import sys
import time

import pytest

from tests.support import netns
from tests.support.netns import Hosts

pytestmark = [pytest.mark.multihost]

PORT = 47123
LISTENER = (
    "import socket, time\n"
    "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    f"s.bind(('0.0.0.0', {PORT})); s.listen(16)\n"
    "while True:\n"
    "    c, _ = s.accept(); c.close()\n"
)


def connect(address: str, timeout_s: float) -> str:
    """``ok``, ``timeout`` or the error's name, for one TCP connect to the host."""
    try:
        with socket.create_connection((address, PORT), timeout=timeout_s):
            return "ok"
    except TimeoutError:
        return "timeout"
    except OSError as exc:
        return type(exc).__name__


def test_a_partition_drops_silently_and_a_heal_restores_the_link(hosts: Hosts) -> None:
    """Connected, then cut (the connect times out: no refusal, no error from the network),
    then healed (connected again)."""
    host = hosts.add("probe")
    hosts.spawn(host, [sys.executable, "-c", LISTENER], {}, "listener.log")
    deadline = time.monotonic() + 10
    while connect(host.address, 0.5) != "ok" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "ok" == connect(host.address, 1.0)

    host.partition()
    try:
        assert "timeout" == connect(host.address, 1.0)
    finally:
        host.heal()
    assert "ok" == connect(host.address, 2.0)


def test_without_root_the_suite_skips_locally_and_fails_in_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Not root: a skip with the reason on a laptop, a failure under ``CI=true``."""
    monkeypatch.setattr(netns.os, "geteuid", lambda: 1000)
    assert "root" in (netns.unavailable_reason() or "")
    monkeypatch.setattr(netns, "IN_CI", False)
    with pytest.raises(pytest.skip.Exception, match="need root"):
        netns.require_namespaces()
    monkeypatch.setattr(netns, "IN_CI", True)
    with pytest.raises(pytest.fail.Exception, match="CI must run the multihost tests"):
        netns.require_namespaces()
