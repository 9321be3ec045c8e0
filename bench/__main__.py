"""python -m bench: yaynay's hot paths and capacity, against floors measured in the same run.

Starts on 127.0.0.1 a Redis of its own, yaynay under gunicorn (config/gunicorn.conf.py,
two workers) and the floors app (bench/floors.py) under the same settings; loads each
scenario with wrk (a warm-up run, then rounds in which every scenario and both floors run
once); measures Redis memory per voter, flat cost, live fan-out and the memory of idle
streams; optionally runs Isso (bench/isso_peer.py) beside it; and prints one table.
Everything it starts is stopped at the end, on Ctrl-C and on errors too.

    .venv/bin/python -m bench                      # everything: about 15 minutes on 2 cores
    .venv/bin/python -m bench --quick              # every row, small and short: a smoke test
    .venv/bin/python -m bench --only vote,tally --seconds 5 --runs 5
    .venv/bin/python -m bench --worker-class gthread --threads 100 --only vote,tally
    .venv/bin/python -m bench --markdown bench.md  # the table as Markdown too
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import redis

from bench import costs, report, scenarios
from bench.api import Api
from bench.cluster_bus import measure_bus
from bench.redis_stats import RoundTripCounter, measure_voter_memory
from bench.servers import (
    ADMIN_TOKEN,
    GUNICORN_CONFIG,
    SECRET_KEY,
    Gunicorn,
    WorkerSettings,
    raise_open_files_limit,
    start_redis,
    stop_on_sigterm,
    yaynay_env,
)
from bench.streams import HeldStreams, measure_fan_out, measure_idle_streams
from bench.wrk import ensure_wrk, wrk_version
from service.store import Store
from service.store.keys import Keys

# What --only selects, in the table's order (the floors come first, whenever a wrk scenario runs).
SECTIONS = (
    "vote",
    "tally",
    "tally-304",
    "batch",
    "thread",
    "post",
    "queue",
    "isso",
    "fanout",
    "memory",
    "flat",
    "rss",
    "bus",
)
QUICK = dict(
    seconds=1,
    runs=1,
    warm_up=False,
    voters="1000,10000",
    streams="100",
    fanout_streams=100,
    fanout_votes=3,
    flat_polls=1000,
    no_isso=True,
    bus_votes=300,
)


def parse_options(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10, help="length of each wrk run (default 10)")
    parser.add_argument("--runs", type=int, default=3, help="counted runs of each scenario (default 3)")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections (default 50)")
    parser.add_argument("--no-warm-up", dest="warm_up", action="store_false", help="skip the warm-up runs")
    parser.add_argument(
        "--only",
        type=lambda text: text.split(","),
        default=list(SECTIONS),
        metavar="NAME[,NAME]",
        help=f"run these only: {', '.join(SECTIONS)}",
    )
    parser.add_argument(
        "--voters",
        default="1000,10000,100000,1000000,10000000",
        metavar="N[,N]",
        help="poll sizes, one poll each, for memory per voter and the vote at each size (default 1,000 to 10,000,000)",
    )
    parser.add_argument(
        "--flat-polls", type=int, default=100_000, help="polls the flat-cost votes spread over (default 100,000)"
    )
    parser.add_argument(
        "--streams",
        default="1000,5000,20000",
        help="idle streams held when the workers' RSS is read (default 1000,5000,20000): one worker "
        "while its open-files limit allows (a descriptor a stream), as many as it takes beyond",
    )
    parser.add_argument("--fanout-streams", type=int, default=1000, help="streams of the fan-out (default 1,000)")
    parser.add_argument("--fanout-votes", type=int, default=20, help="votes the fan-out times (default 20)")
    parser.add_argument(
        "--bus-votes", type=int, default=3000, help="votes on the 3+3 cluster of the bus measure (default 3,000)"
    )
    parser.add_argument("--worker-class", default="gevent", help="gunicorn worker class (default gevent)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--threads", type=int, default=1, help="threads a worker, for gthread (default 1)")
    parser.add_argument("--no-isso", action="store_true", help="do not run Isso beside yaynay")
    parser.add_argument("--markdown", type=Path, metavar="FILE", help="also write the table as Markdown")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 1 s runs, 1 run, no warm-up, polls of 1,000 and 10,000 voters, 1,000 flat polls, "
        "100 streams, no Isso, 300 bus votes",
    )
    if "--quick" in (sys.argv[1:] if argv is None else argv):
        parser.set_defaults(**QUICK)  # options given explicitly still win
    options = parser.parse_args(argv)
    unknown = set(options.only) - set(SECTIONS)
    if unknown:
        parser.error(f"--only: unknown {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")
    options.streams = sorted(int(count) for count in options.streams.split(","))
    options.voters = sorted(int(count) for count in options.voters.split(","))
    return options


def main(argv: list[str] | None = None) -> int:
    options = parse_options(argv)
    ensure_wrk()
    raise_open_files_limit()
    stop_on_sigterm()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="yaynay-bench-") as workdir:
        redis_server = start_redis(Path(workdir) / "redis")
        try:
            machine, rows, cost_rows, failures = Bench(options, Path(workdir), redis_server.url).run()
        finally:
            redis_server.stop()
    print(report.render_text(machine, rows))
    if cost_rows:
        print("\nCPU time a request (docs/scaling.md sizes deployments from these):\n")
        print(costs.render_text(cost_rows))
    if options.markdown:
        text = report.render_markdown(machine, rows)
        if cost_rows:
            text += "\nCPU time a request:\n\n" + costs.render_markdown(cost_rows)
        options.markdown.write_text(text)
    scenarios.progress(f"done in {time.monotonic() - started:.0f} s")
    for failure in failures:
        print(f"bench: FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


class Bench:
    """One run: the steps in order, each adding its rows."""

    def __init__(self, options: argparse.Namespace, workdir: Path, redis_url: str):
        self.options = options
        self.workdir = workdir
        self.redis_url = redis_url
        self.redis = redis.Redis.from_url(redis_url)
        self.keys = Keys("yaynay")
        self.workers = WorkerSettings(options.worker_class, options.workers, options.threads)
        # Isso's peer starts its gunicorn with this process's environment.
        os.environ.update(self.workers.env())
        self.rows: dict[str, list[report.Row]] = {}
        self.costs: list[costs.CostRow] = []
        self.failures: list[str] = []

    def selected(self, section: str) -> bool:
        return section in self.options.only

    def run(self) -> tuple[str, list[report.Row], list[costs.CostRow], list[str]]:
        counter = RoundTripCounter(self.redis)
        round_trips_checked = counter.check()
        if self.selected("memory") or self.selected("flat"):
            store = Store(self.redis, self.keys.prefix)
            for voters in self.options.voters:
                scenarios.progress(f"loading {voters:,} voters into one poll")
                memory = measure_voter_memory(store, SECRET_KEY, scenarios.sized_poll(voters), voters)
                if self.selected("memory"):
                    self.rows.setdefault("memory", []).append(report.memory_row(memory))
        if set(self.options.only) - {"memory", "rss", "bus"}:
            self.serve_and_load(counter)
        if self.selected("rss"):
            self.attempt("rss", "idle streams RSS", self.idle_streams)
        if self.selected("bus"):
            self.attempt("bus", "cluster bus per vote", self.cluster_bus)
        machine = report.machine_line(
            redis_version=self.redis.info("server")["redis_version"],
            worker_class=self.workers.worker_class,
            workers=self.workers.workers,
            threads=self.workers.threads,
            wrk=wrk_version(),
            seconds=self.options.seconds,
            connections=self.options.connections,
            runs=self.options.runs,
            warm_up=self.options.warm_up,
            round_trips_checked=round_trips_checked,
        )
        rows = [row for section in ("floors", *SECTIONS) for row in self.rows.get(section, [])]
        return machine, rows, self.costs, self.failures

    def attempt(self, section: str, name: str, step) -> None:
        """Run a step; a failure becomes a "not measured" row (and a non-zero exit), not the end of the run."""
        try:
            step()
        except Exception as error:  # any failure of one step is reported in its row
            self.rows[section] = [report.not_measured(name, f"{type(error).__name__}: {error}".splitlines()[0])]
            self.failures.append(f"{name}: {type(error).__name__}: {error}")

    def serve_and_load(self, counter: RoundTripCounter) -> None:
        """yaynay and the floors under gunicorn, the wrk scenarios, Isso beside them, then the fan-out."""
        env = yaynay_env(self.redis_url, self.workdir / "var", self.workers)
        yaynay = Gunicorn("service.wsgi:app", env, self.workdir / "yaynay.log")
        floors = Gunicorn("bench.floors:app", env, self.workdir / "floors.log", ready_path="/hello")
        with contextlib.ExitStack() as stack:
            for server in (yaynay, floors):
                server.start()
                stack.callback(server.stop)
            for server in (yaynay, floors):
                server.wait_ready()
            api = Api(yaynay.url, ADMIN_TOKEN)
            stack.callback(api.close)
            scenarios.progress("creating polls, threads and comments")
            loads = scenarios.prepare_yaynay(
                api,
                self.redis,
                self.keys,
                yaynay.url,
                only=self.selected,
                sizes=self.options.voters,
                flat_polls=self.options.flat_polls,
            )
            isso_loads, isso_pid = self.isso_scenarios(stack)
            loads += isso_loads
            if loads:
                # Every gunicorn's workers: one server is loaded at a time, the others idle.
                servers = [yaynay.process.pid, floors.process.pid, *([isso_pid] if isso_pid else [])]
                cpu = costs.CpuMeter(self.redis, servers)
                self.measure([*scenarios.floor_scenarios(floors.url), *loads], counter, cpu)
            if self.selected("fanout"):
                cpu = costs.CpuMeter(self.redis, [yaynay.process.pid])
                self.attempt("fanout", "live fan-out", lambda: self.fan_out(api, yaynay.url, cpu))

    def isso_scenarios(self, stack: contextlib.ExitStack) -> tuple[list[scenarios.Scenario], int]:
        """Isso's scenarios and its gunicorn's pid (for its workers' CPU), or none and 0."""
        if not self.selected("isso"):
            return [], 0
        if self.options.no_isso:
            self.rows["isso"] = [report.not_measured("Isso", "--quick" if self.options.quick else "--no-isso")]
            return [], 0
        try:
            from bench.isso_peer import IssoPeer, IssoUnavailable
        except ImportError as error:
            self.rows["isso"] = [report.not_measured("Isso", f"bench/isso_peer.py: {error}")]
            return [], 0
        scenarios.progress("starting Isso (the first run installs it)")
        try:
            peer = stack.enter_context(IssoPeer(self.workdir, GUNICORN_CONFIG))
        except IssoUnavailable as unavailable:
            self.rows["isso"] = [report.not_measured("Isso", str(unavailable).splitlines()[0])]
            return [], 0
        return scenarios.isso_scenarios(peer), peer.pid

    def measure(self, loads: list[scenarios.Scenario], counter: RoundTripCounter, cpu: costs.CpuMeter) -> None:
        usable = []
        for scenario in loads:
            try:
                scenarios.check_answer(scenario)
                usable.append(scenario)
            except (RuntimeError, OSError) as error:
                self.rows.setdefault(scenario.section, []).append(report.not_measured(scenario.name, str(error)))
                self.failures.append(str(error))
        measured = scenarios.measure(
            usable,
            seconds=self.options.seconds,
            connections=self.options.connections,
            runs=self.options.runs,
            warm_up=self.options.warm_up,
            counter=counter,
            cpu=cpu,
        )
        self.costs = [measurement.cost_row() for measurement in measured.values()]
        hello, incr = measured.get("hello"), measured.get("incr")
        for measurement in measured.values():
            if measurement.scenario.key not in ("flat-few", "flat-many"):
                self.rows.setdefault(measurement.scenario.section, []).append(
                    report.throughput_row(measurement, hello, incr)
                )
        if "flat-many" in measured:
            options = self.options
            smallest, largest = options.voters[0], options.voters[-1]
            self.rows.setdefault("flat", []).extend(
                [
                    report.flat_row(
                        "flat cost: voters on one poll",
                        measured[f"size-{largest}"],
                        measured[f"size-{smallest}"],
                        f"{largest:,} vs {smallest:,} voters",
                        largest,
                        report.TARGET_VOTERS,
                    ),
                    report.flat_row(
                        "flat cost: polls voted on",
                        measured["flat-many"],
                        measured["flat-few"],
                        f"{options.flat_polls:,} vs {scenarios.FLAT_FEW_POLLS} polls",
                        options.flat_polls,
                        report.TARGET_POLLS,
                    ),
                ]
            )

    def fan_out(self, api: Api, base_url: str, cpu: costs.CpuMeter) -> None:
        api.create_poll("fan-out")
        scenarios.progress(f"fan-out: {self.options.fanout_streams:,} streams, {self.options.fanout_votes} votes")
        before = cpu.read()
        result = measure_fan_out(
            base_url, api, "fan-out", streams=self.options.fanout_streams, votes=self.options.fanout_votes
        )
        spent = cpu.read() - before
        self.rows["fanout"] = [report.fan_out_row(result)]
        # Opening the streams is in it too: each opening is a tally read and a delivery.
        deliveries = sum(result.delivered) + result.opened
        self.costs.append(
            costs.CostRow(
                "live fan-out: a stream opened or an event delivered",
                deliveries,
                spent.app / max(deliveries, 1) * 1e6,
                spent.redis / max(deliveries, 1) * 1e6,
                None,
            )
        )

    def idle_streams(self) -> None:
        """Idle streams held by one worker (YAYNAY_WORKERS=1) as long as one can hold them, by as
        many workers as it takes beyond; the workers' RSS at each count."""
        # A stream is a descriptor in the worker: keep room for the rest of what it opens.
        per_worker = resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 1000
        counts_by_workers: dict[int, list[int]] = {}
        for count in sorted(set(self.options.streams)):
            counts_by_workers.setdefault(math.ceil(count / per_worker), []).append(count)
        held = []
        for workers, counts in sorted(counts_by_workers.items()):
            held += self.hold_idle_streams(workers, counts, per_worker)
        self.rows["rss"] = report.idle_streams_rows(held)

    def hold_idle_streams(self, workers: int, counts: list[int], per_worker: int) -> list[HeldStreams]:
        """A server of ``workers`` workers holding ``counts`` streams in turn (StreamClients)."""
        settings = dataclasses.replace(self.workers, workers=workers)
        # Caps raised for the bench only: one worker to the largest count, several each to what
        # its open-files limit allows, however the connections fall between them.
        most = max(counts) if workers == 1 else per_worker
        env = yaynay_env(
            self.redis_url,
            self.workdir / "var",
            settings,
            YAYNAY_WORKER_CONNECTIONS=str(most + 1000),
            YAYNAY_STREAMS_PER_WORKER=str(most + 500),
        )
        if workers > 1:
            # A listening socket of each worker's own (SO_REUSEPORT): the kernel spreads the
            # connections by a hash of their addresses, evenly whatever the scheduling. On
            # the one shared socket each connection goes to whichever woken worker accepts
            # first: 20,000 split 9,724/10,276 there in a test, but a busy machine decides it.
            env["GUNICORN_CMD_ARGS"] = f"{env.get('GUNICORN_CMD_ARGS', '')} --reuse-port".strip()
        log = self.workdir / f"idle-streams-{workers}.log"
        with Gunicorn("service.wsgi:app", env, log) as server:
            with contextlib.closing(Api(server.url, ADMIN_TOKEN)) as api:
                api.create_poll(f"idle-{workers}")
            on = "one worker" if workers == 1 else f"{workers} workers"
            scenarios.progress(f"idle streams: {', '.join(f'{n:,}' for n in sorted(counts))} on {on}")
            return measure_idle_streams(server.url, f"idle-{workers}", server.settled_workers(workers), counts)

    def cluster_bus(self) -> None:
        """Bus messages a vote costs on a 3+3 cluster, and changes a worker decodes, before and after."""
        scenarios.progress(f"cluster bus: a 3+3 cluster, {self.options.bus_votes:,} votes over 100 polls")
        cost = measure_bus(self.workdir / "cluster", votes=self.options.bus_votes)
        self.rows["bus"] = report.bus_rows(cost)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("bench: interrupted; what it started is stopped", file=sys.stderr)
        sys.exit(130)
