"""Linux network namespaces as separate hosts: the multihost suite's machines.

Each :class:`Host` is a network namespace joined to the test host (the root namespace) by
one veth pair on a private /30 (``10.213.N.1`` on the test host's side, ``10.213.N.2``
inside the namespace). A host reaches ``10.213.0.0/16`` through its link (so a service bound
to another link's address on the test host is reachable too) and nothing else: the
namespace has no default route, the test host forwards nothing, and
``10.213.0.0/16`` is blackholed on the test host while a host exists, so no packet of these
tests can leave the machine even if a link is misconfigured.

A *partition* is silent, as a cut cable or a dead switch is: each side's neighbour entry for
the other is replaced by a MAC address nobody has, so frames are dropped by the peer (not
answered with an error); TCP sockets on both sides see nothing until they time out.
:meth:`Host.heal` puts the real entries back. (This machine's kernel has neither netem nor
iptables: the neighbour table is the one drop that needs no module.)

Processes started on a host are tracked by PID and process group; :meth:`Hosts.close` kills
them, then any process still in a namespace, then deletes the links and namespaces, also
after a failed test. Needs root and ``ip`` (iproute2).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.services import IN_CI

SUBNET = "10.213"
BLACKHOLE = f"{SUBNET}.0.0/16"
NAMESPACE_PREFIX = "cutover-h"
FIRST_INDEX, LAST_INDEX = 1, 250
NOWHERE_MAC = "02:00:00:00:de:ad"
"""The MAC a partitioned side sends to: locally administered, on no interface."""


def _ip(*args: str, namespace: str | None = None, check: bool = True) -> str:
    argv = ["ip", *(("-n", namespace) if namespace else ()), *args]
    done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()}")
    return done.stdout


def unavailable_reason() -> str | None:
    """Why namespaces cannot be made here (``None``: they can)."""
    if os.geteuid() != 0:
        return "multihost tests need root (network namespaces and veth pairs)"
    if shutil.which("ip") is None:
        return "multihost tests need iproute2's `ip` (apt-get install iproute2)"
    probe = f"{NAMESPACE_PREFIX}probe-{os.getpid()}"
    try:
        _ip("netns", "add", probe)
    except RuntimeError as exc:
        return f"cannot create a network namespace: {exc}"
    _ip("netns", "del", probe, check=False)
    return None


def require_namespaces() -> None:
    """Skip (not root, laptop) or fail (CI) when hosts cannot be made."""
    reason = unavailable_reason()
    if reason is None:
        return
    if IN_CI:
        pytest.fail(f"{reason}: CI must run the multihost tests (.ci/run runs as root)")
    pytest.skip(reason)


@dataclass
class Host:
    """One namespace with its own address: a machine of the test."""

    label: str
    index: int
    namespace: str
    outer_if: str
    inner_if: str
    partitioned: bool = False

    @property
    def address(self) -> str:
        """The host's own address (inside the namespace)."""
        return f"{SUBNET}.{self.index}.2"

    @property
    def test_host_address(self) -> str:
        """The test host's address on this host's link: where its services listen."""
        return f"{SUBNET}.{self.index}.1"

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv`` run inside this host (``ip netns exec`` execs it: the PID is the program's)."""
        return ["ip", "netns", "exec", self.namespace, *argv]

    def pids(self) -> list[int]:
        """Every process in this host's namespace."""
        out = _ip("netns", "pids", self.namespace, check=False)
        return [int(pid) for pid in out.split()]

    def partition(self) -> None:
        """Drop everything between this host and the test host, silently, both ways."""
        _ip(
            "neigh",
            "replace",
            self.address,
            "lladdr",
            NOWHERE_MAC,
            "dev",
            self.outer_if,
            "nud",
            "permanent",
        )
        _ip(
            "neigh",
            "replace",
            self.test_host_address,
            "lladdr",
            NOWHERE_MAC,
            "dev",
            self.inner_if,
            "nud",
            "permanent",
            namespace=self.namespace,
        )
        self.partitioned = True

    def heal(self) -> None:
        """Undo :meth:`partition`: the neighbours are learnt again (ARP) at the next packet."""
        _ip("neigh", "del", self.address, "dev", self.outer_if, check=False)
        _ip(
            "neigh",
            "del",
            self.test_host_address,
            "dev",
            self.inner_if,
            namespace=self.namespace,
            check=False,
        )
        self.partitioned = False

    def kill_all(self) -> None:
        """SIGKILL every process of this host: the machine lost its power."""
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@dataclass
class Hosts:
    """The hosts of one test, and what runs on them; :meth:`close` removes it all."""

    log_dir: Path
    hosts: list[Host] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _blackholed: bool = False

    def add(self, label: str) -> Host:
        """A new host: namespace, veth pair, addresses, links up."""
        if not self._blackholed:
            # "replace" is idempotent; a route another session added is never removed here.
            _ip("route", "replace", "blackhole", BLACKHOLE)
            self._blackholed = True
        start = FIRST_INDEX + os.getpid() % (LAST_INDEX - FIRST_INDEX)
        for offset in range(LAST_INDEX - FIRST_INDEX + 1):
            index = FIRST_INDEX + (start - FIRST_INDEX + offset) % (LAST_INDEX - FIRST_INDEX + 1)
            namespace = f"{NAMESPACE_PREFIX}{index}"
            try:
                _ip("netns", "add", namespace)  # atomic: a name in use fails
            except RuntimeError:
                continue
            host = Host(label, index, namespace, f"cvo{index}", f"cvi{index}")
            self.hosts.append(host)
            self._wire(host)
            return host
        raise RuntimeError("no free host index in 10.213.1-250 (stale namespaces? ip netns)")

    def _wire(self, host: Host) -> None:
        _ip("link", "del", host.outer_if, check=False)  # a stale one of a crashed run
        _ip("link", "add", host.outer_if, "type", "veth", "peer", "name", host.inner_if)
        _ip("link", "set", host.inner_if, "netns", host.namespace)
        _ip("addr", "add", f"{host.test_host_address}/30", "dev", host.outer_if)
        _ip("link", "set", host.outer_if, "up")
        _ip("addr", "add", f"{host.address}/30", "dev", host.inner_if, namespace=host.namespace)
        _ip("link", "set", host.inner_if, "up", namespace=host.namespace)
        _ip("link", "set", "lo", "up", namespace=host.namespace)
        # The test host's addresses on other hosts' links are reached through this link
        # (the test host accepts them as its own; it forwards nothing between hosts).
        _ip("route", "add", BLACKHOLE, "via", host.test_host_address, namespace=host.namespace)

    def spawn(
        self,
        host: Host | None,
        argv: Sequence[str],
        env: Mapping[str, str],
        log_name: str,
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` on ``host`` (``None``: the test host) in a new process group."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        command = host.command(argv) if host is not None else list(argv)
        with (self.log_dir / log_name).open("ab") as log_file:
            process = subprocess.Popen(
                command,
                env=dict(env),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes.append(process)
        return process

    def track(self, process: subprocess.Popen[bytes]) -> None:
        """Also stop ``process`` (started elsewhere) at :meth:`close`."""
        self.processes.append(process)

    def close(self) -> None:
        """Kill what was started (group by group), then the namespaces' leftovers, then the
        links and namespaces. Never raises: it runs after failed tests too."""
        for process in self.processes:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(10)
        for host in self.hosts:
            host.kill_all()
        deadline = time.monotonic() + 10
        while any(host.pids() for host in self.hosts) and time.monotonic() < deadline:
            time.sleep(0.05)
        for host in self.hosts:
            _ip("link", "del", host.outer_if, check=False)
            _ip("netns", "del", host.namespace, check=False)
        self.hosts.clear()
        if self._blackholed and not _other_hosts_exist():
            _ip("route", "del", "blackhole", BLACKHOLE, check=False)
            self._blackholed = False


def _other_hosts_exist() -> bool:
    out = _ip("netns", "list", check=False)
    return any(line.startswith(NAMESPACE_PREFIX) for line in out.splitlines())


@contextlib.contextmanager
def hosts_for_test(log_dir: Path) -> Iterator[Hosts]:
    """:class:`Hosts` that are removed when the block ends, however it ends."""
    require_namespaces()
    hosts = Hosts(log_dir)
    try:
        yield hosts
    finally:
        hosts.close()


__all__ = [
    "BLACKHOLE",
    "Host",
    "Hosts",
    "hosts_for_test",
    "require_namespaces",
    "unavailable_reason",
]
