"""A real Redis Cluster for the tests: masters and their replicas, started from the same
redis-server the rest of the suite uses, joined with redis-cli, and able to lose a master.

One place for it, so that the session fixture (``YAYNAY_TEST_REDIS=cluster``), the store's
cluster tests and the failover test all start, wait for and break a cluster the same way.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import redis

from service.store.embedded import RedisProcess, free_port, redis_server_binary

# A master sends a new replica its data at once, not after Redis's default 5 s wait for
# more replicas to share one transfer: the suite's cluster starts in 2 s instead of 7.
NO_SYNC_DELAY = ["--repl-diskless-sync-delay", "0"]

# Every Redis Cluster node also listens on its port + 10000 (the cluster bus).
BUS_PORT_OFFSET = 10000


def redis_cli() -> str:
    """The redis-cli that ships with the suite's redis-server."""
    return str(redis_server_binary()).replace("redis-server", "redis-cli")


def start_node(
    directory: Path, *, node_timeout_ms: int, persist: bool, extra_args: list[str] | None = None
) -> RedisProcess:
    """A cluster-enabled redis-server on a free port whose bus port (port + 10000) is free too."""
    for _ in range(10):
        port = free_port()
        if port + BUS_PORT_OFFSET > 65535:
            continue
        node = RedisProcess(
            directory / str(port),
            port=port,
            persist=persist,
            extra_args=[
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                str(node_timeout_ms),
                *NO_SYNC_DELAY,
                *(extra_args or []),
            ],
        )
        try:
            return node.start()
        except RuntimeError:
            continue  # the bus port was taken: try another pair
    raise RuntimeError("no free port pair for a cluster node")


class Cluster:
    """``masters`` masters with ``replicas`` replicas each on 127.0.0.1.

    ``node_timeout_ms`` is Redis's ``cluster-node-timeout``: how long a master may be
    silent before its replica takes over. With ``persist`` every node keeps an AOF
    (``appendfsync everysec``), as deployed.
    """

    def __init__(
        self,
        directory: Path,
        *,
        masters: int = 3,
        replicas: int = 1,
        node_timeout_ms: int = 2000,
        persist: bool = False,
        extra_args: list[str] | None = None,
    ):
        self.directory = directory
        self.master_count = masters
        self.replicas = replicas
        self.node_timeout_ms = node_timeout_ms
        self.persist = persist
        self.extra_args = extra_args or []  # more redis-server options for every node
        self.nodes: list[RedisProcess] = []
        self.frozen: set[int] = set()  # ports of nodes stopped with SIGSTOP

    @property
    def url(self) -> str:
        """A URL to give the app (any node: the client discovers the others)."""
        return self.live_nodes()[0].url

    def start(self, timeout: float = 60.0) -> Cluster:
        """Start every node, join them into one cluster and wait until it is stable."""
        try:
            for _ in range(self.master_count * (1 + self.replicas)):
                self.nodes.append(
                    start_node(
                        self.directory,
                        node_timeout_ms=self.node_timeout_ms,
                        persist=self.persist,
                        extra_args=self.extra_args,
                    )
                )
            created = subprocess.run(
                [
                    redis_cli(),
                    "--cluster",
                    "create",
                    *(f"127.0.0.1:{node.port}" for node in self.nodes),
                    "--cluster-replicas",
                    str(self.replicas),
                    "--cluster-yes",
                ],
                capture_output=True,
                text=True,
                timeout=timeout,
            )
            if created.returncode != 0:
                raise RuntimeError("redis-cli --cluster create failed:\n" + created.stdout + created.stderr)
            self.wait_until_stable(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for node in self.nodes:
            if node.port in self.frozen:
                self.thaw(node)
            node.stop()

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def client(self, node: RedisProcess) -> redis.Redis:
        return redis.Redis(port=node.port, socket_timeout=2, socket_connect_timeout=1)

    def live_nodes(self) -> list[RedisProcess]:
        """The nodes that run and answer (neither killed nor frozen)."""
        return [
            node
            for node in self.nodes
            if node.process is not None and node.process.poll() is None and node.port not in self.frozen
        ]

    def _roles(self) -> dict[int, dict]:
        """Each live node's ``ROLE`` reply by port."""
        roles = {}
        for node in self.live_nodes():
            with self.client(node) as client:
                roles[node.port] = client.execute_command("ROLE")
        return roles

    def masters(self) -> list[RedisProcess]:
        """The live nodes that are masters now."""
        roles = self._roles()
        return [node for node in self.live_nodes() if roles[node.port][0] == b"master"]

    def replicas_of(self, master: RedisProcess) -> list[RedisProcess]:
        """The live replicas that follow ``master`` now."""
        with self.client(master) as client:
            ports = {int(port) for _, port, _ in client.execute_command("ROLE")[2]}
        return [node for node in self.live_nodes() if node.port in ports]

    def wait_until_stable(self, timeout: float = 30.0) -> None:
        """Until every live node says ``cluster_state:ok``, sees the same masters owning all
        16384 slots, and every master has its replicas connected and caught up: before that
        a node answers CLUSTERDOWN or MOVED for slots it has not heard of."""
        deadline = time.monotonic() + timeout
        problem = "not asked yet"
        while time.monotonic() < deadline:
            problem = self._instability()
            if problem is None:
                return
            time.sleep(0.1)
        raise RuntimeError(f"the cluster did not settle in {timeout} s: {problem}")

    def _instability(self) -> str | None:
        try:
            views = set()
            for node in self.live_nodes():
                with self.client(node) as client:
                    info = client.cluster("info")
                    if info.get("cluster_state") != "ok":
                        return f"node {node.port} says {info.get('cluster_state')}"
                    slots = client.cluster("slots")
                    views.add(tuple(sorted((start, end, master[1]) for start, end, master, *_ in slots)))
                    if sum(end - start + 1 for start, end, *_ in slots) != 16384:
                        return f"node {node.port} does not cover every slot"
            if len(views) != 1:
                return "the nodes disagree on who owns which slots"
            for master in self.masters():
                with self.client(master) as client:
                    replication = client.info("replication")
                online = [
                    n for n in range(replication["connected_slaves"]) if replication[f"slave{n}"]["state"] == "online"
                ]
                if len(online) < self.replicas:
                    return f"master {master.port} has no replica in sync yet"
        except redis.exceptions.RedisError as error:
            return str(error)
        return None

    def flush(self) -> None:
        """Empty every master (their replicas follow)."""
        for node in self.masters():
            with self.client(node) as client:
                client.flushall()

    def master_of(self, key: str) -> RedisProcess:
        """The live master that owns ``key``'s slot."""
        with self.client(self.live_nodes()[0]) as client:
            slot = client.cluster("keyslot", key)
            for start, end, master, *_ in client.cluster("slots"):
                if start <= slot <= end:
                    return next(node for node in self.nodes if node.port == master[1])
        raise LookupError(key)

    def kill(self, node: RedisProcess) -> float:
        """kill -9 ``node``; returns when (monotonic) it died."""
        assert node.process is not None
        node.process.kill()
        node.process.wait()
        node.process = None
        return time.monotonic()

    def freeze(self, node: RedisProcess) -> float:
        """SIGSTOP ``node``: it holds its connections and answers nothing, as behind a network
        partition; returns when (monotonic). ``thaw`` lets it go on."""
        assert node.process is not None
        node.process.send_signal(signal.SIGSTOP)
        self.frozen.add(node.port)
        return time.monotonic()

    def thaw(self, node: RedisProcess) -> None:
        """SIGCONT a frozen ``node``: a master whose replica took over rejoins as its replica."""
        assert node.process is not None
        node.process.send_signal(signal.SIGCONT)
        self.frozen.discard(node.port)

    def wait_for_promotion(self, dead: RedisProcess, timeout: float = 30.0) -> float:
        """Until a replica of the dead master has taken its slots and the cluster is ok again;
        returns when (monotonic) that was seen."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with self.client(self.live_nodes()[0]) as client:
                    owners = {master[1] for _, _, master, *_ in client.cluster("slots")}
                    state = client.cluster("info").get("cluster_state")
            except redis.exceptions.RedisError:
                owners, state = set(), None
            if dead.port not in owners and state == "ok" and self._instability_ignoring_replicas() is None:
                return time.monotonic()
            time.sleep(0.05)
        raise RuntimeError(f"no replica took over from {dead.port} in {timeout} s")

    def _instability_ignoring_replicas(self) -> str | None:
        """Whether every live node agrees the cluster is ok (a promoted master has no replica)."""
        saved, self.replicas = self.replicas, 0
        try:
            return self._instability()
        finally:
            self.replicas = saved
