"""The wrk scenarios: what each sends, the data it needs, and how its runs are taken and summarised.

Every scenario has polls or threads of its own, so none disturbs another. The floors
(bench/floors.py) run in every round beside the others, so drift over the run (other
load on the machine, Redis growing) touches a scenario and the floors it is divided by
alike.
"""

from __future__ import annotations

import secrets
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

from bench import fixtures
from bench.api import Api
from bench.costs import CostRow, CpuMeter, CpuReading
from bench.redis_stats import RoundTripCounter
from bench.servers import ADMIN_TOKEN
from bench.wrk import WrkRun, run_wrk
from service.store.keys import Keys

VOTE_POLLS = 1000
BATCH_SIZE = 50
THREAD_COMMENTS = 20
POST_THREADS = 5
PENDING_COMMENTS = 60
FLAT_FEW_POLLS = 10


def sized_poll(voters: int) -> str:
    """The poll loaded with ``voters`` voters before the servers start."""
    return f"size-{voters}-0"


@dataclass(frozen=True)
class Target:
    """The scenario's median req/s is at least ``ratio`` times the ``floor``'s."""

    floor: str
    ratio: float

    @property
    def text(self) -> str:
        return f"≥ {self.ratio:.2f} × {self.floor}"


@dataclass(frozen=True)
class Scenario:
    """One wrk load: a URL, or a Lua script in bench/ that builds the requests.

    ``expect`` is the status one plain GET of ``url`` (with ``headers``) must answer
    before the load starts (None: the script's requests differ from a GET). Scripts of
    our own get a fresh salt as their first argument each run, so no run repeats the
    voters or comment texts of another.
    """

    key: str
    name: str
    url: str
    section: str  # the --only name, and the table's group of rows
    script: str | None = None
    script_args: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()
    expect: int | None = 200
    target: Target | None = None
    reference: str = ""  # shown where a target would be, for a peer's orientation
    uses_redis: bool = True
    salted: bool = True


@dataclass
class Measurement:
    """The counted runs of one scenario and the Redis round trips they made."""

    scenario: Scenario
    runs: list[WrkRun] = field(default_factory=list)
    round_trips: int = 0
    cpu: CpuReading = CpuReading(0.0, 0.0)  # CPU seconds the app and Redis spent in the counted runs

    @property
    def median(self) -> WrkRun:
        return sorted(self.runs, key=lambda run: run.rate)[(len(self.runs) - 1) // 2]

    @property
    def rates(self) -> list[float]:
        return [run.rate for run in self.runs]

    @property
    def non_2xx_3xx(self) -> int:
        return sum(run.non_2xx_3xx for run in self.runs)

    @property
    def socket_errors(self) -> int:
        return sum(run.socket_errors for run in self.runs)

    @property
    def requests(self) -> int:
        return sum(run.requests for run in self.runs)

    @property
    def round_trips_per_request(self) -> float | None:
        requests = self.requests
        return self.round_trips / requests if self.scenario.uses_redis and requests else None

    def cost_row(self) -> CostRow:
        """CPU microseconds a request in the app and in Redis, over the counted runs."""
        requests = max(self.requests, 1)
        return CostRow(
            self.scenario.name,
            self.requests,
            self.cpu.app / requests * 1e6,
            self.cpu.redis / requests * 1e6 if self.scenario.uses_redis else None,
            self.round_trips_per_request,
        )


def floor_scenarios(floors_url: str) -> list[Scenario]:
    """The two floors every ratio is taken against."""
    return [
        Scenario("hello", "floor: hello (Flask jsonify)", f"{floors_url}/hello", "floors"),
        Scenario("incr", "floor: one Redis INCR", f"{floors_url}/incr", "floors"),
    ]


def prepare_yaynay(
    api: Api, redis, keys: Keys, base: str, *, only: Callable[[str], bool], sizes: list[int], flat_polls: int
) -> list[Scenario]:
    """Make each selected scenario's data through ``api`` (and ``redis`` for bulk) and return them."""
    scenarios = []
    admin = f"Authorization: Bearer {ADMIN_TOKEN}"
    if only("vote"):
        fixtures.create_polls(api, redis, keys, [f"vote-{n}" for n in range(VOTE_POLLS)])
        scenarios.append(
            Scenario(
                "vote",
                "vote",
                base,
                "vote",
                "vote.lua",
                ("vote-", str(VOTE_POLLS)),
                expect=None,
                target=Target("INCR", 0.8),
            )
        )
    if only("tally"):
        api.create_poll("tally")
        scenarios.append(
            Scenario("tally", "tally read", f"{base}/api/v1/polls/tally", "tally", target=Target("hello", 0.8))
        )
    if only("tally-304"):
        api.create_poll("tally-304")
        etag = api.request("GET", "/api/v1/polls/tally-304").headers["ETag"]
        scenarios.append(
            Scenario(
                "tally-304",
                "tally read, 304",
                f"{base}/api/v1/polls/tally-304",
                "tally-304",
                headers=(f"If-None-Match: {etag}",),
                expect=304,
                target=Target("hello", 0.85),
            )
        )
    if only("batch"):
        ids = [f"batch-{n}" for n in range(BATCH_SIZE)]
        fixtures.create_polls(api, redis, keys, ids)
        scenarios.append(
            Scenario(
                "batch", f"batch tallies ({BATCH_SIZE} polls)", f"{base}/api/v1/polls?ids={','.join(ids)}", "batch"
            )
        )
    if only("thread"):
        fixtures.seed_thread(api, "thread-20", THREAD_COMMENTS)
        scenarios.append(
            Scenario(
                "thread",
                f"thread read ({THREAD_COMMENTS} comments)",
                f"{base}/api/v1/threads/thread-20/comments",
                "thread",
                target=Target("hello", 0.5),
            )
        )
    if only("post"):
        scenarios.append(
            Scenario(
                "post",
                "comment post (JSON)",
                base,
                "post",
                "comment.lua",
                ("post-", str(POST_THREADS)),
                expect=None,
                target=Target("hello", 0.35),
            )
        )
    if only("queue"):
        fixtures.seed_pending(api, "queue-seed", PENDING_COMMENTS)
        scenarios.append(
            Scenario(
                "queue", "moderation queue (50)", f"{base}/api/v1/moderation/queue?limit=50", "queue", headers=(admin,)
            )
        )
    if only("flat"):
        # The sized polls were loaded before the servers started; each run adds its votes.
        fixtures.create_polls(api, redis, keys, [f"flat-few-{n}" for n in range(FLAT_FEW_POLLS)])
        fixtures.create_polls(api, redis, keys, [f"flat-many-{n}" for n in range(flat_polls)])
        scenarios += [
            Scenario(
                f"size-{voters}",
                f"vote, one poll of {voters:,} voters",
                base,
                "flat",
                "vote.lua",
                (sized_poll(voters)[:-1], "1"),
                expect=None,
            )
            for voters in sizes
        ]
        scenarios += [
            Scenario(
                "flat-few",
                f"vote over {FLAT_FEW_POLLS} polls",
                base,
                "flat",
                "vote.lua",
                ("flat-few-", str(FLAT_FEW_POLLS)),
                expect=None,
            ),
            Scenario(
                "flat-many",
                f"vote over {flat_polls:,} polls",
                base,
                "flat",
                "vote.lua",
                ("flat-many-", str(flat_polls)),
                expect=None,
            ),
        ]
    return scenarios


def isso_scenarios(peer) -> list[Scenario]:
    """Isso's thread read and comment post (bench/isso_peer.py), beside ours."""
    return [
        Scenario(
            "isso-thread",
            f"Isso: thread read ({THREAD_COMMENTS} comments)",
            peer.thread_url,
            "isso",
            reference="(was ~0.018 × hello)",
            uses_redis=False,
        ),
        Scenario(
            "isso-post",
            "Isso: comment post",
            peer.base_url,
            "isso",
            str(peer.post_script),
            expect=None,
            reference="(was ~0.07 × hello)",
            uses_redis=False,
            salted=False,
        ),
    ]


def check_answer(scenario: Scenario) -> None:
    """RuntimeError unless one plain GET answers the status the load expects."""
    if scenario.expect is None:
        return
    headers = dict(header.split(": ", 1) for header in scenario.headers)
    try:
        with urllib.request.urlopen(urllib.request.Request(scenario.url, headers=headers), timeout=10) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    if status != scenario.expect:
        raise RuntimeError(f"{scenario.name}: {scenario.url} answered {status}, not {scenario.expect}")


def measure(
    scenarios: list[Scenario],
    *,
    seconds: int,
    connections: int,
    runs: int,
    warm_up: bool,
    counter: RoundTripCounter,
    cpu: CpuMeter | None = None,
) -> dict[str, Measurement]:
    """A warm-up run of each scenario (not counted), then ``runs`` rounds of one run of each,
    with the round trips and (given a ``cpu`` meter) the CPU time each round spent."""
    for scenario in scenarios:
        check_answer(scenario)

    def run(scenario: Scenario) -> WrkRun:
        args = scenario.script_args
        if scenario.script and scenario.salted:
            args = (secrets.token_hex(6), *args)
        return run_wrk(
            scenario.url,
            seconds=seconds,
            connections=connections,
            script=scenario.script,
            script_args=args,
            headers=scenario.headers,
        )

    if warm_up:
        for scenario in scenarios:
            progress(f"warm-up: {scenario.name}")
            run(scenario)
    measurements = {scenario.key: Measurement(scenario) for scenario in scenarios}
    for round_number in range(1, runs + 1):
        for scenario in scenarios:
            cpu_before = cpu.read() if cpu else None
            before = counter.read()
            result = run(scenario)
            measurement = measurements[scenario.key]
            measurement.round_trips += counter.since(before)
            if cpu and cpu_before:
                measurement.cpu = measurement.cpu + (cpu.read() - cpu_before)
            measurement.runs.append(result)
            progress(f"round {round_number}/{runs}: {scenario.name}: {result.rate:,.0f} req/s")
    return measurements


_STARTED = time.monotonic()


def progress(message: str) -> None:
    """A line on stderr with the seconds since the bench started."""
    print(f"bench [{time.monotonic() - _STARTED:5.0f} s] {message}", file=sys.stderr, flush=True)
