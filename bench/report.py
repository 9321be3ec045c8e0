"""The one table a bench run prints: a machine line, then a row per scenario with its target.

Targets are issue 5's: throughput as ratios of the floors measured in the same run, and
the capacity figures below. A capacity target is judged only at the size it names (a
`--quick` run loads less and says so).
"""

from __future__ import annotations

import math
import os
import platform
from dataclasses import dataclass
from pathlib import Path

import gunicorn

from bench.cluster_bus import BUS_MESSAGE_OVERHEAD, BusCost
from bench.redis_stats import VoterMemory
from bench.scenarios import Measurement
from bench.streams import FanOut, HeldStreams

MAX_BYTES_PER_VOTER = 16
TARGET_VOTERS = 1_000_000
MIN_FLAT_RATIO = 0.90
TARGET_POLLS = 100_000
MAX_RSS_MB = 150
TARGET_STREAMS = 5000
MAX_FAN_OUT_P99_MS = 500
TARGET_FAN_OUT_STREAMS = 1000

NONE = "—"
COLUMNS = ("scenario", "result", "× hello", "× INCR", "round trips/req", "p99", "non-2xx/3xx", "target", "met")


@dataclass(frozen=True)
class Row:
    name: str
    result: str
    vs_hello: str = NONE
    vs_incr: str = NONE
    round_trips: str = NONE
    p99: str = NONE
    errors: str = NONE
    target: str = NONE
    met: str = NONE

    def cells(self) -> tuple[str, ...]:
        return (
            self.name,
            self.result,
            self.vs_hello,
            self.vs_incr,
            self.round_trips,
            self.p99,
            self.errors,
            self.target,
            self.met,
        )


def _met(ok: bool) -> str:
    return "yes" if ok else "NO"


def _judged(text: str, at_size: int, size: int, ok: bool) -> tuple[str, str]:
    """The target column and the met column of a capacity target stated for ``at_size``."""
    if size < at_size:
        return f"{text} (at {at_size:,})", NONE
    return text, _met(ok)


def _errors(measurement: Measurement) -> str:
    """Responses wrk counted as failed, and socket errors (timeouts, resets) when there were any."""
    sockets = measurement.socket_errors
    return f"{measurement.non_2xx_3xx:,}" + (f" (+{sockets:,} socket)" if sockets else "")


def not_measured(name: str, reason: str) -> Row:
    return Row(name, f"not measured ({reason})")


def throughput_row(measurement: Measurement, hello: Measurement | None, incr: Measurement | None) -> Row:
    """Median req/s [min–max] of the counted runs, ratios of the medians, and the target."""
    scenario, median = measurement.scenario, measurement.median
    floors = {"hello": hello, "INCR": incr}
    ratios = {
        name: median.rate / floor.median.rate if floor and floor.median.rate else math.nan
        for name, floor in floors.items()
    }
    target, met = scenario.reference or NONE, NONE
    if scenario.target:
        target = scenario.target.text
        met = _met(ratios[scenario.target.floor] >= scenario.target.ratio)
    per_request = measurement.round_trips_per_request
    return Row(
        scenario.name,
        f"{median.rate:,.0f} req/s [{min(measurement.rates):,.0f}–{max(measurement.rates):,.0f}]",
        vs_hello=f"{ratios['hello']:.3f}",
        vs_incr=f"{ratios['INCR']:.3f}",
        round_trips=NONE if per_request is None else f"{per_request:.2f}",
        p99=f"{median.p99_ms:.1f} ms",
        errors=_errors(measurement),
        target=target,
        met=met,
    )


def flat_row(name: str, large: Measurement, small: Measurement, what: str, size: int, target_size: int) -> Row:
    """Throughput at the large size as a share of the small one's."""
    ratio = large.median.rate / small.median.rate
    target, met = _judged(f"≥ {MIN_FLAT_RATIO:.2f}", target_size, size, ratio >= MIN_FLAT_RATIO)
    return Row(
        name,
        f"{ratio:.3f} ({what}: {large.median.rate:,.0f} vs {small.median.rate:,.0f} req/s)",
        round_trips=f"{large.round_trips_per_request:.2f}",
        p99=f"{large.median.p99_ms:.1f} ms",
        errors=f"{_errors(large)} / {_errors(small)}",
        target=target,
        met=met,
    )


def memory_row(memory: VoterMemory) -> Row:
    """Bytes a voter at one poll size; the target holds at every size."""
    loaded = "by votes through the vote script" if memory.by_votes else "written directly in its layout"
    return Row(
        f"Redis bytes per voter ({memory.voters:,})",
        f"{memory.bytes_per_voter:.1f} B ({memory.buckets:,} buckets, {memory.voters_per_bucket:.0f} voters "
        f"a bucket on average, {loaded}; a sample bucket: {memory.sample_encoding}, {memory.sample_voters} voters)",
        target=f"≤ {MAX_BYTES_PER_VOTER} B",
        met=_met(memory.bytes_per_voter <= MAX_BYTES_PER_VOTER),
    )


def fan_out_row(fan_out: FanOut) -> Row:
    p50, p99 = fan_out.percentile(0.5), fan_out.percentile(0.99)
    worst = max(fan_out.latencies_ms, default=math.nan)
    expected = fan_out.streams * fan_out.votes
    target, met = _judged(
        f"p99 < {MAX_FAN_OUT_P99_MS} ms",
        TARGET_FAN_OUT_STREAMS,
        fan_out.streams,
        p99 < MAX_FAN_OUT_P99_MS and sum(fan_out.delivered) == expected,
    )
    return Row(
        "live fan-out",
        f"p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {worst:.0f} ms; {fan_out.streams:,} streams "
        f"({fan_out.opened:,} opened), {fan_out.votes} votes, {sum(fan_out.delivered):,} of "
        f"{expected:,} deliveries (fewest for one vote: {min(fan_out.delivered, default=0):,})",
        p99=f"{p99:.0f} ms",
        errors=f"{expected - sum(fan_out.delivered):,}",
        target=target,
        met=met,
    )


def idle_streams_rows(held: list[HeldStreams]) -> list[Row]:
    """A row a count of idle streams: the RSS of the worker holding them or, when it took several,
    their sum and each one's share (the target then holds for each worker)."""
    rows = []
    for step in held:
        mb = step.total_rss_bytes / 1e6
        per_stream = (step.total_rss_bytes - step.total_idle_rss_bytes) / step.streams / 1024
        all_tallied = step.with_tally == step.streams
        tallies = f"{step.with_tally:,} streams got their tally"
        if len(step.rss_bytes) == 1:
            target, met = _judged(f"< {MAX_RSS_MB} MB", TARGET_STREAMS, step.streams, mb < MAX_RSS_MB and all_tallied)
            result = (
                f"{mb:.1f} MB, one worker ({step.total_idle_rss_bytes / 1e6:.1f} MB before, "
                f"{per_stream:.1f} KiB a stream; {tallies})"
            )
        else:
            each_ok = all(rss / 1e6 < MAX_RSS_MB for rss in step.rss_bytes)
            target, met = _judged(f"< {MAX_RSS_MB} MB a worker", TARGET_STREAMS, step.streams, each_ok and all_tallied)
            shares = ", ".join(
                f"{rss / 1e6:.1f} MB with {streams:,}"
                for rss, streams in zip(step.rss_bytes, step.streams_by_worker, strict=True)
            )
            result = (
                f"{mb:.1f} MB over {len(step.rss_bytes)} workers ({shares}; "
                f"{step.total_idle_rss_bytes / 1e6:.1f} MB before; {per_stream:.1f} KiB a stream; {tallies})"
            )
        rows.append(
            Row(
                f"idle streams RSS ({step.streams:,})",
                result,
                errors=f"{step.streams - step.with_tally:,}",
                target=target,
                met=met,
            )
        )
    return rows


def bus_rows(cost: BusCost) -> list[Row]:
    """Cluster-bus messages and bytes a vote costs, and what a worker decodes a vote, before and after."""
    before = cost.per_vote(cost.publish_messages)
    after = cost.per_vote(cost.shard_messages)
    decoded_before = [cost.per_vote(count) for count in cost.decoded_before]
    decoded_after = [cost.per_vote(count) for count in cost.decoded_after]
    share = cost.served / cost.polls
    return [
        Row(
            "cluster bus per vote",
            f"{after:.2f} messages ≈ {after * (BUS_MESSAGE_OVERHEAD + cost.shard_bytes) / 1000:.1f} KB "
            f"(SPUBLISH, the poll's shard); before {before:.2f} ≈ "
            f"{before * (BUS_MESSAGE_OVERHEAD + cost.publish_bytes) / 1000:.1f} KB (PUBLISH, every node); "
            f"3 masters + 3 replicas, {cost.votes:,} votes",
            target="only the poll's shard (≤ 1 with 1 replica)",
            met=_met(after <= 1.0),
        ),
        Row(
            "changes a worker decodes per vote",
            f"{' / '.join(f'{value:.2f}' for value in decoded_after)} (2 workers, each streaming "
            f"{cost.served} of {cost.polls} polls); before "
            f"{' / '.join(f'{value:.2f}' for value in decoded_before)} (every change to every worker)",
            target=f"its polls only (≈ {share:.2f})",
            met=_met(all(value <= share * 1.1 for value in decoded_after)),
        ),
    ]


def machine_line(
    *,
    redis_version: str,
    worker_class: str,
    workers: int,
    threads: int,
    wrk: str,
    seconds: int,
    connections: int,
    runs: int,
    warm_up: bool,
    round_trips_checked: bool,
) -> str:
    """The machine and the settings the numbers were taken with."""
    threads_text = f" × {threads} threads" if threads > 1 else ""
    check = "" if round_trips_checked else " (WARNING: this Redis failed the round-trip counting check)"
    return (
        f"{_cpu_model()}, {_cpu_count()} cores, Linux {platform.release()}, Python {platform.python_version()}, "
        f"Redis {redis_version}, gunicorn {gunicorn.__version__} with {workers} {worker_class} "
        f"workers{threads_text}, {wrk} -t2 -c{connections} -d{seconds}s, "
        f"{'a warm-up and ' if warm_up else ''}{runs} run{'s' if runs != 1 else ''} each; "
        f"round trips: Redis read events per request{check}"
    )


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def render_text(machine: str, rows: list[Row]) -> str:
    """The table as aligned plain text."""
    table = [COLUMNS, *(row.cells() for row in rows)]
    widths = [max(len(cells[i]) for cells in table) for i in range(len(COLUMNS))]
    left = {0, 1, 7}
    lines = [machine, ""]
    for cells in table:
        lines.append(
            "  ".join(
                cell.ljust(width) if i in left else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
            ).rstrip()
        )
    return "\n".join(lines)


def render_markdown(machine: str, rows: list[Row]) -> str:
    """The table as Markdown, for the README."""
    align = ["---", "---", "---:", "---:", "---:", "---:", "---:", "---", "---"]
    lines = [machine, "", "| " + " | ".join(COLUMNS) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row.cells()) + " |" for row in rows]
    return "\n".join(lines) + "\n"
