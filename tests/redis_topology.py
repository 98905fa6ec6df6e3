"""Real Redis Cluster and Sentinel deployments on local ports, for tests (issue 15).

Both start ``redis-server`` processes in a folder of the caller's (e.g. ``tmp_path``), persist
nothing but the cluster's state files, and stop every process they started on exit.

::

    with redis_cluster(folder, primaries=3, replicas_per_primary=1) as cluster:
        cluster.url                  # "redis+cluster://127.0.0.1:p1,127.0.0.1:p2,..."
        cluster.seeds                # [("127.0.0.1", p1), ...] the primaries at start
        cluster.nodes                # [Node(port, role, pid, node_id), ...] as started
        cluster.client(port)         # a sync redis.Redis to one node (closed on exit)
        cluster.command(port, *args) # one command to one node
        cluster.primary_for_slot(s)  # the port serving slot ``s`` now (as the cluster says)
        cluster.primary_for_key(k)   # the same, by key (its hash tag)
        cluster.primaries()          # the ports of the live primaries now
        cluster.kill(port)           # SIGKILL one node
        cluster.wait_failover(port)  # until a replica took over the dead ``port``'s slots
                                     # and every live node says cluster_state:ok
        cluster.wait_ok()            # until every live node says cluster_state:ok

    with redis_sentinel(folder, replicas=1, sentinels=3, service="sg") as sentinel:
        sentinel.url                 # "redis+sentinel://127.0.0.1:s1,...:s3/sg"
        sentinel.master_port()       # the port the sentinels name as master now
        sentinel.kill_master()       # SIGKILL the master; returns its port
        sentinel.wait_failover(old)  # until the sentinels name another, writable master

Every node gets a small node timeout (``node_timeout_ms``, 1500 by default) and every sentinel a
small ``down-after-milliseconds``, so a failover takes a few seconds. A cluster's ports are
chosen so that the cluster bus port (port + 10000) is free too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import redis
from redis.crc import key_slot

from tests.launcher import launch

HOST = "127.0.0.1"


@dataclass
class Node:
    port: int
    role: str  # "primary", "replica", "sentinel" (as started; failovers change the truth)
    process: subprocess.Popen[bytes]
    node_id: str = ""

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


def free_ports(count: int, *, bus: bool = False) -> list[int]:
    """Free local ports (and, with ``bus``, each port + 10000 free too)."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as sock:
            sock.bind((HOST, 0))
            port: int = sock.getsockname()[1]
        if port in ports or (bus and port + 10000 > 65535):
            continue
        if bus:
            with socket.socket() as other:
                try:
                    other.bind((HOST, port + 10000))
                except OSError:
                    continue
        ports.append(port)
    return ports


def wait_for(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(redis.RedisError, OSError):
            if check():
                return
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def _start(argv: list[str], folder: Path, name: str) -> subprocess.Popen[bytes]:
    log = open(folder / f"{name}.log", "wb")  # noqa: SIM115 - the child owns it
    try:
        process: subprocess.Popen[bytes] = launch(
            argv, stdout=log, stderr=subprocess.STDOUT, cwd=folder
        )
        return process
    finally:
        log.close()


def _stop(nodes: list[Node]) -> None:
    for node in nodes:
        if node.alive:
            node.process.terminate()
    for node in nodes:
        try:
            node.process.wait(10)
        except subprocess.TimeoutExpired:
            node.process.kill()
            node.process.wait(10)


def _base_argv(port: int) -> list[str]:
    return [
        "redis-server", "--port", str(port), "--bind", HOST, "--save", "",
        "--appendonly", "no", "--protected-mode", "no",
    ]  # fmt: skip


@dataclass
class _Deployment:
    nodes: list[Node]
    _clients: dict[int, redis.Redis] = field(default_factory=dict)

    def client(self, port: int) -> redis.Redis:
        if port not in self._clients:
            self._clients[port] = redis.Redis(
                host=HOST, port=port, socket_timeout=2, socket_connect_timeout=1
            )
        return self._clients[port]

    def command(self, port: int, *args: object) -> Any:
        """One command to one node (CLUSTER SETSLOT, MIGRATE...), its reply parsed."""
        return _command(self.client(port), *args)

    def node(self, port: int) -> Node:
        return next(node for node in self.nodes if node.port == port)

    def kill(self, port: int) -> None:
        node = self.node(port)
        node.process.send_signal(signal.SIGKILL)
        node.process.wait(10)
        client = self._clients.pop(port, None)
        if client is not None:
            client.close()

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()


@dataclass
class Cluster(_Deployment):
    @property
    def seeds(self) -> list[tuple[str, int]]:
        return [(HOST, node.port) for node in self.nodes if node.role == "primary"]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"{h}:{p}" for h, p in self.seeds)

    def live(self) -> list[Node]:
        return [node for node in self.nodes if node.alive]

    def _shards(self) -> list[tuple[int, int, int]]:
        """(first slot, last slot, primary port) as any live node sees them."""
        for node in self.live():
            with contextlib.suppress(redis.RedisError, OSError):
                slots = _command(self.client(node.port), "CLUSTER", "SLOTS")
                return [(int(s[0]), int(s[1]), int(s[2][1])) for s in slots]
        raise RuntimeError("no cluster node answers")

    def primary_for_slot(self, slot: int) -> int:
        for first, last, port in self._shards():
            if first <= slot <= last:
                return port
        raise LookupError(f"slot {slot} is not served")

    def primary_for_key(self, key: str) -> int:
        return self.primary_for_slot(key_slot(key.encode()))

    def primaries(self) -> list[int]:
        return sorted({port for _, _, port in self._shards()})

    def node_id(self, port: int) -> str:
        reply = _command(self.client(port), "CLUSTER", "MYID")
        return reply.decode() if isinstance(reply, bytes) else str(reply)

    def _ok(self, port: int) -> bool:
        info = _command(self.client(port), "CLUSTER", "INFO")
        text = info.decode() if isinstance(info, bytes) else str(info)
        return "cluster_state:ok" in text

    def wait_ok(self, timeout: float = 30.0) -> None:
        for node in self.live():
            wait_for(partial(self._ok, node.port), f"node {node.port} ok", timeout)

    def wait_failover(self, dead: int, timeout: float = 30.0) -> int:
        """Until no slot is served by ``dead`` any more and the cluster is ok; the new port."""

        def moved() -> bool:
            shards = self._shards()
            return bool(shards) and all(port != dead for _, _, port in shards)

        wait_for(moved, f"a replica to replace {dead}", timeout)
        self.wait_ok(timeout)
        return self.primaries()[0]


@contextlib.contextmanager
def redis_cluster(
    folder: Path | str,
    primaries: int = 3,
    replicas_per_primary: int = 1,
    node_timeout_ms: int = 1500,
) -> Iterator[Cluster]:
    """A Redis Cluster of ``primaries`` primaries, each with ``replicas_per_primary`` replicas."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    count = primaries * (1 + replicas_per_primary)
    ports = free_ports(count, bus=True)
    nodes: list[Node] = []
    cluster = Cluster(nodes)
    try:
        for index, port in enumerate(ports):
            argv = [
                *_base_argv(port), "--cluster-enabled", "yes",
                "--cluster-config-file", f"nodes-{port}.conf", "--dir", str(folder),
                "--cluster-node-timeout", str(node_timeout_ms),
                # A replica takes over however long it was cut off (tests kill primaries).
                "--cluster-replica-validity-factor", "0",
                "--cluster-allow-replica-migration", "no",
            ]  # fmt: skip
            role = "primary" if index < primaries else "replica"
            nodes.append(Node(port, role, _start(argv, folder, f"node-{port}")))
        for node in nodes:
            wait_for(partial(_pings, cluster, node.port), f"node {node.port}")
        # redis-cli makes the first ``primaries`` addresses the primaries.
        subprocess.run(
            ["redis-cli", "--cluster", "create", *(f"{HOST}:{p}" for p in ports),
             "--cluster-replicas", str(replicas_per_primary), "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        cluster.wait_ok()
        for node in nodes:
            node.node_id = cluster.node_id(node.port)
        if replicas_per_primary:
            wait_for(lambda: _replicas_synced(cluster), "the replicas to sync")
        yield cluster
    finally:
        cluster.close()
        _stop(nodes)


def _command(client: redis.Redis, *args: object) -> Any:
    return client.execute_command(*args)  # type: ignore[no-untyped-call]


def _pings(deployment: _Deployment, port: int) -> bool:
    return bool(deployment.client(port).ping())


def _replicas_synced(cluster: Cluster) -> bool:
    for node in cluster.live():
        info = cluster.client(node.port).info("replication")
        if info.get("role") == "slave" and info.get("master_link_status") != "up":
            return False
    return True


@dataclass
class Sentinels(_Deployment):
    service: str = "sg"

    @property
    def sentinel_ports(self) -> list[int]:
        return [node.port for node in self.nodes if node.role == "sentinel"]

    @property
    def url(self) -> str:
        hosts = ",".join(f"{HOST}:{p}" for p in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{self.service}"

    def master_port(self) -> int:
        for port in self.sentinel_ports:
            if not self.node(port).alive:
                continue
            with contextlib.suppress(redis.RedisError, OSError):
                reply = _command(
                    self.client(port), "SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service
                )
                if reply:
                    return int(reply[1])
        raise RuntimeError("no sentinel names a master")

    def kill_master(self) -> int:
        port = self.master_port()
        self.kill(port)
        return port

    def wait_failover(self, old: int, timeout: float = 30.0) -> int:
        def promoted() -> bool:
            port = self.master_port()
            if port == old:
                return False
            return bool(self.client(port).info("replication").get("role") == "master")

        wait_for(promoted, "the sentinels to promote a replica", timeout)
        return self.master_port()


@contextlib.contextmanager
def redis_sentinel(
    folder: Path | str,
    replicas: int = 1,
    sentinels: int = 3,
    service: str = "sg",
    down_after_ms: int = 1000,
) -> Iterator[Sentinels]:
    """A master, ``replicas`` replicas and ``sentinels`` sentinels (quorum: a majority)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    ports = free_ports(1 + replicas + sentinels)
    master, replica_ports, sentinel_ports = ports[0], ports[1 : 1 + replicas], ports[1 + replicas :]
    nodes: list[Node] = []
    deployment = Sentinels(nodes, service=service)
    try:
        nodes.append(Node(master, "primary", _start(_base_argv(master), folder, f"m-{master}")))
        for port in replica_ports:
            argv = [*_base_argv(port), "--replicaof", HOST, str(master)]
            nodes.append(Node(port, "replica", _start(argv, folder, f"r-{port}")))
        for node in list(nodes):
            wait_for(partial(_pings, deployment, node.port), f"node {node.port}")
        wait_for(lambda: _replicas_up(deployment, replica_ports), "the replicas to sync")
        quorum = sentinels // 2 + 1
        for port in sentinel_ports:
            config = folder / f"sentinel-{port}.conf"
            config.write_text(
                f"port {port}\nbind {HOST}\nprotected-mode no\ndir {folder}\n"
                f"sentinel monitor {service} {HOST} {master} {quorum}\n"
                f"sentinel down-after-milliseconds {service} {down_after_ms}\n"
                f"sentinel failover-timeout {service} {max(3 * down_after_ms, 3000)}\n"
                f"sentinel parallel-syncs {service} 1\n"
            )
            argv = ["redis-server", str(config), "--sentinel"]
            nodes.append(Node(port, "sentinel", _start(argv, folder, f"s-{port}")))
        wait_for(lambda: deployment.master_port() == master, "the sentinels")
        wait_for(lambda: _sentinels_see_each_other(deployment), "the sentinels to meet")
        yield deployment
    finally:
        deployment.close()
        _stop(nodes)
        if os.environ.get("SOVEREIGN_KEEP_REDIS_LOGS") is None:
            for log in folder.glob("*.log"):
                log.unlink(missing_ok=True)


def _replicas_up(deployment: Sentinels, ports: list[int]) -> bool:
    return all(
        deployment.client(port).info("replication").get("master_link_status") == "up"
        for port in ports
    )


def _sentinels_see_each_other(deployment: Sentinels) -> bool:
    wanted = len(deployment.sentinel_ports) - 1
    for port in deployment.sentinel_ports:
        reply = _command(deployment.client(port), "SENTINEL", "SENTINELS", deployment.service)
        if len(reply) < wanted:
            return False
    return True
