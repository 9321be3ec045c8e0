"""What one request costs in CPU time: the app's workers and Redis, per scenario.

Throughput on a shared 2-core machine drifts with whatever else runs on it; CPU time
spent per request drifts far less, since a process is charged only for the time it ran.
``docs/scaling.md`` sizes a deployment from these figures: a request of a kind costs
``app`` seconds of one core in a gunicorn worker and ``redis`` seconds of Redis's one
core (its main thread: ``used_cpu_user`` + ``used_cpu_sys`` of ``INFO cpu``).

The app's figure is the CPU time of every worker of every gunicorn the bench started
(the floors', yaynay's and Isso's: only one is loaded at a time, and an idle worker
spends next to nothing), divided by the requests wrk completed. wrk's own time is not
in it. Background work (the change feed's thread, keep-alive flushes) is counted with
the request that caused it, which is what a capacity model wants.
"""

from __future__ import annotations

from dataclasses import dataclass

import psutil


@dataclass(frozen=True)
class CpuReading:
    """CPU seconds spent so far by the app's workers and by Redis."""

    app: float
    redis: float

    def __sub__(self, earlier: CpuReading) -> CpuReading:
        return CpuReading(self.app - earlier.app, self.redis - earlier.redis)

    def __add__(self, other: CpuReading) -> CpuReading:
        return CpuReading(self.app + other.app, self.redis + other.redis)


class CpuMeter:
    """Reads the CPU time of the servers' worker processes and of one Redis."""

    def __init__(self, redis, server_pids: list[int]):
        self.redis = redis
        self.server_pids = server_pids

    def read(self) -> CpuReading:
        """CPU seconds so far. A worker that exited since is left out (its time is lost)."""
        app = 0.0
        for pid in self.server_pids:
            try:
                for worker in psutil.Process(pid).children():
                    times = worker.cpu_times()
                    app += times.user + times.system
            except psutil.NoSuchProcess:
                continue
        info = self.redis.info("cpu")
        return CpuReading(app, float(info["used_cpu_user"]) + float(info["used_cpu_sys"]))


@dataclass(frozen=True)
class CostRow:
    """One scenario's cost a request, in microseconds of CPU."""

    name: str
    requests: int
    app_us: float
    redis_us: float | None  # None: the scenario's server keeps nothing in Redis (Isso)
    round_trips: float | None

    def cells(self) -> tuple[str, ...]:
        return (
            self.name,
            f"{self.requests:,}",
            f"{self.app_us:,.0f} µs",
            "—" if self.redis_us is None else f"{self.redis_us:,.1f} µs",
            "—" if self.round_trips is None else f"{self.round_trips:.2f}",
        )


COLUMNS = ("scenario", "requests", "app CPU/req", "Redis CPU/req", "round trips/req")


def render_text(rows: list[CostRow]) -> str:
    """The cost table as aligned plain text."""
    table = [COLUMNS, *(row.cells() for row in rows)]
    widths = [max(len(cells[i]) for cells in table) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        )
        for cells in table
    )


def render_markdown(rows: list[CostRow]) -> str:
    """The cost table as Markdown, for docs/scaling.md."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "| --- | ---: | ---: | ---: | ---: |"]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines) + "\n"
