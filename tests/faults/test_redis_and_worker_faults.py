"""Faults during votes and comments: Redis stopped, killed or frozen, a worker killed.

After each, every acknowledged vote is in its poll's voter records and tally, every tally
equals its voter records, and every acknowledged comment is in its thread, the moderation
queue and the e-mail index. The one exception is the documented window of AOF
``appendfsync everysec``: when Redis itself is killed, writes acknowledged in about the
last second before may be gone.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.faults.conftest import Ledger, Writers, examine, report, worker_pids

pytestmark = [pytest.mark.faults, pytest.mark.e2e]

# How long before a kill -9 an acknowledged write may be lost: everysec's one second, plus
# the fsync that may lag behind it (Redis lets one run up to two seconds late).
EVERYSEC_WINDOW = 2.0
LOAD_BEFORE = 1.5  # seconds of load before the fault
LOAD_AFTER = 2.5  # and after Redis (or the worker) is back


def sigterm_restart(redis_server, master) -> float:
    redis_server.stop()  # SIGTERM: Redis writes its AOF out and exits
    time.sleep(0.5)
    redis_server.start()
    return 0.0


def kill_restart(redis_server, master) -> float:
    assert redis_server.process is not None
    killed_at = time.monotonic()
    redis_server.process.kill()
    redis_server.process.wait()
    redis_server.process = None
    time.sleep(0.5)
    redis_server.start()
    return killed_at


def freeze_thrice(redis_server, master) -> float:
    assert redis_server.process is not None
    for seconds in (1.2, 2.0, 1.5):
        redis_server.process.send_signal(signal.SIGSTOP)
        time.sleep(seconds)
        redis_server.process.send_signal(signal.SIGCONT)
        time.sleep(0.7)
    return 0.0


def kill_a_worker(redis_server, master) -> float:
    os.kill(worker_pids(master.pid)[0], signal.SIGKILL)
    time.sleep(1.0)  # gunicorn starts another
    return 0.0


SCENARIOS = {
    "Redis SIGTERM, restarted 0.5 s later": sigterm_restart,
    "Redis kill -9, restarted 0.5 s later": kill_restart,
    "Redis SIGSTOP 1.2 s, 2 s and 1.5 s, then SIGCONT": freeze_thrice,
    "gunicorn worker kill -9": kill_a_worker,
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_no_acknowledged_write_is_lost(scenario, faulty_redis, fault_server):
    base, master = fault_server
    ledger = Ledger()
    with Writers(base, ledger) as writers:
        time.sleep(LOAD_BEFORE)
        killed_at = SCENARIOS[scenario](faulty_redis, master)
        time.sleep(LOAD_AFTER)
        writers.stop()
    outcome = examine(faulty_redis.url, ledger)

    lost = outcome.votes_lost + outcome.comments_lost
    if killed_at:
        note = (
            f"lost: acknowledged {', '.join(f'{killed_at - write.acked_at:.2f}' for write in lost)} s before the kill"
            if lost
            else ""
        )
        report(scenario, ledger, outcome, note)
        assert all(killed_at - EVERYSEC_WINDOW <= (write.acked_at or 0) <= killed_at for write in lost)
    else:
        report(scenario, ledger, outcome)
        assert lost == []
    assert len(ledger.acknowledged(ledger.votes)) > 100 and len(ledger.acknowledged(ledger.comments)) > 10
    for poll_id in outcome.tallies:
        # No phantom or missing count: the tally is what the voter records say, and the
        # records are exactly the votes the clients sent that landed.
        assert outcome.tallies[poll_id] == outcome.records[poll_id] == outcome.landed[poll_id], poll_id
    # On one node a comment, its queue entry and its email index entry are one script.
    assert not outcome.comments_unqueued, "acknowledged comments missing from the moderation queue"
    assert not outcome.comments_unindexed, "acknowledged comments missing from the e-mail index"
