"""poll.created for polls a first vote creates, and poll.closed when closes_at passes, through a
real RQ worker (in this process, burst, or ``yaynay worker``) and a local receiver."""

from __future__ import annotations

import datetime as dt
import time

import pytest

from service import create_app
from service.core import mail, polls
from tests.notifications.conftest import worker_process
from tests.notifications.test_webhooks import add_hook, run_jobs

VOTER = "v" * 22


@pytest.fixture
def settings(settings):
    return {**settings, "CLOCK": time.time, "WEBHOOK_ALLOW_PRIVATE": True, "AUTO_CREATE_POLLS": True}


def vote(client, poll_id, voter=VOTER, choice="yay"):
    return client.post(f"/api/v1/polls/{poll_id}/votes", json={"choice": choice, "voter": voter})


def kinds(receiver):
    return [(delivery["json"]["type"], delivery["json"]["data"]["id"]) for delivery in receiver.received]


def closing_in(seconds: float) -> str:
    return (dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds)).isoformat()


def test_a_poll_created_by_a_first_vote_is_announced_once(client, admin, core, receiver):
    add_hook(client, admin, receiver, events=["poll.created"])
    assert vote(client, "brand-new").status_code in (200, 201)
    assert vote(client, "brand-new", voter="w" * 22).status_code in (200, 201)
    assert vote(client, "brand-new", choice="nay").status_code == 200
    run_jobs(core)
    assert kinds(receiver) == [("poll.created", "brand-new")]
    assert receiver.received[0]["json"]["data"]["tally"] == {"yay": 1, "nay": 0, "total": 1}


def test_a_poll_is_announced_closed_once_when_its_closing_time_passes(client, admin, core, receiver):
    add_hook(client, admin, receiver, events=["poll.closed"])
    client.put("/api/v1/polls/soon", json={"question": "Soon?", "closes_at": closing_in(1)}, headers=admin)
    client.put("/api/v1/polls/later", json={"question": "Later?", "closes_at": closing_in(3600)}, headers=admin)
    assert polls.announce_due_closings(core) == 0
    time.sleep(1.1)
    run_jobs(core)  # the worker's first sweep runs at its start
    run_jobs(core)
    assert polls.announce_due_closings(core) == 0
    run_jobs(core)
    assert kinds(receiver) == [("poll.closed", "soon")]


def test_a_moved_reopened_closed_or_deleted_closing_is_not_announced_at_the_old_time(client, admin, core, receiver):
    add_hook(client, admin, receiver, events=["poll.closed"])
    for poll_id in ("moved", "reopened", "closed", "deleted"):
        client.put(f"/api/v1/polls/{poll_id}", json={"question": "?", "closes_at": closing_in(1)}, headers=admin)
    client.put("/api/v1/polls/moved", json={"question": "?", "closes_at": closing_in(3600)}, headers=admin)
    client.post("/api/v1/polls/reopened/reopen", headers=admin)
    client.post("/api/v1/polls/closed/close", headers=admin)
    client.delete("/api/v1/polls/deleted", headers=admin)
    time.sleep(1.1)
    assert polls.announce_due_closings(core) == 0
    run_jobs(core)
    assert kinds(receiver) == [("poll.closed", "closed")]  # the explicit close, once


def test_an_open_poll_saved_with_a_closing_time_now_past_is_announced_closed(client, admin, core, receiver):
    add_hook(client, admin, receiver, events=["poll.closed"])
    client.put("/api/v1/polls/open-ended", json={"question": "?"}, headers=admin)
    client.put("/api/v1/polls/scheduled", json={"question": "?", "closes_at": closing_in(3600)}, headers=admin)
    client.put("/api/v1/polls/born-closed", json={"question": "?", "closes_at": closing_in(-60)}, headers=admin)
    for poll_id in ("open-ended", "scheduled", "born-closed"):
        saved = client.put(
            f"/api/v1/polls/{poll_id}", json={"question": "?", "closes_at": closing_in(-1)}, headers=admin
        )
        assert saved.json["state"] == "closed"
    assert client.put(
        "/api/v1/polls/scheduled", json={"question": "Again?", "closes_at": closing_in(-2)}, headers=admin
    )
    run_jobs(core)
    assert sorted(kinds(receiver)) == [("poll.closed", "open-ended"), ("poll.closed", "scheduled")]


def test_closing_a_closed_poll_again_announces_nothing_and_keeps_its_closing_time(client, admin, core, receiver):
    add_hook(client, admin, receiver, events=["poll.closed"])
    client.put("/api/v1/polls/swept", json={"question": "?", "closes_at": closing_in(1)}, headers=admin)
    client.put("/api/v1/polls/by-hand", json={"question": "?"}, headers=admin)
    time.sleep(1.1)
    assert polls.announce_due_closings(core) == 1
    closed_at = client.get("/api/v1/polls/swept").json["closes_at"]
    for poll_id in ("swept", "by-hand", "by-hand"):
        answer = client.post(f"/api/v1/polls/{poll_id}/close", headers=admin)
        assert answer.status_code == 200 and answer.json["state"] == "closed", answer.json
    assert client.get("/api/v1/polls/swept").json["closes_at"] == closed_at
    run_jobs(core)
    assert sorted(kinds(receiver)) == [("poll.closed", "by-hand"), ("poll.closed", "swept")]


def test_a_sweep_that_could_not_schedule_the_next_is_scheduled_again_by_a_running_worker(
    client, admin, core, receiver, redis_client
):
    """A sweep whose Redis went away mid-job cannot schedule the next one: once its guard
    has run out, the running worker's next maintenance round (every 10 minutes) does."""
    add_hook(client, admin, receiver, events=["poll.closed"])
    run_jobs(core)  # the first sweep, which schedules the next
    scheduled = core.store.jobs.queue.scheduled_job_registry
    for job_id in scheduled.get_job_ids():
        scheduled.remove(job_id, delete_job=True)
    redis_client.delete(core.store.keys.mail_guard("closing-sweep"))
    client.put("/api/v1/polls/after-outage", json={"question": "?", "closes_at": closing_in(1)}, headers=admin)
    time.sleep(1.1)
    rounds = []
    worker = core.store.jobs.worker(every_maintenance=lambda: rounds.append(mail.schedule_periodic_jobs(core)))
    worker.run_maintenance_tasks()
    assert len(rounds) == 1
    core.store.jobs.work(burst=True)
    assert kinds(receiver) == [("poll.closed", "after-outage")]


def test_many_closings_due_at_once_are_all_announced(core):
    soon = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=1)
    for number in range(polls.CLOSINGS_TAKEN + 5):
        polls.save_poll(core, f"p{number}", question="?", closes_at=soon, allow_change=True)
    time.sleep(max(0.0, soon.timestamp() - time.time()) + 0.1)
    assert polls.announce_due_closings(core) == polls.CLOSINGS_TAKEN + 5


@pytest.mark.e2e
def test_a_closing_that_passed_while_no_worker_ran_is_announced_when_one_starts(
    client, admin, receiver, settings, tmp_path
):
    add_hook(client, admin, receiver, events=["poll.closed"])
    client.put("/api/v1/polls/overnight", json={"question": "?", "closes_at": closing_in(1)}, headers=admin)
    time.sleep(1.1)
    with worker_process(settings, tmp_path / "var") as worker:
        received = receiver.wait_for(1, timeout=20)
    assert kinds(receiver) == [("poll.closed", "overnight")], worker.errors
    assert receiver.bad_signatures == 0 and len(received) == 1


def test_the_schedule_outlives_the_process_that_wrote_it(client, admin, core, receiver, settings):
    add_hook(client, admin, receiver, events=["poll.closed"])
    client.put("/api/v1/polls/survivor", json={"question": "?", "closes_at": closing_in(1)}, headers=admin)
    time.sleep(1.1)
    fresh = create_app(settings)
    try:
        assert polls.announce_due_closings(fresh.extensions["yaynay"]) == 1
    finally:
        fresh.extensions["yaynay"].close()
    run_jobs(core)
    assert kinds(receiver) == [("poll.closed", "survivor")]


def test_a_schedule_left_at_an_earlier_save_s_time_is_put_right_by_the_sweep(client, admin, core, receiver):
    """Two saves at once can leave the schedule (another slot) at the first save's time while
    the poll holds the second's: the sweep that finds it not yet closed schedules it again."""
    add_hook(client, admin, receiver, events=["poll.closed"])
    client.put("/api/v1/polls/raced", json={"question": "?", "closes_at": closing_in(2)}, headers=admin)
    schedule = core.store.keys.closing_schedule()
    core.store.redis.zadd(schedule, {"raced": time.time() - 1})  # the earlier save's time, now past
    assert polls.announce_due_closings(core) == 0  # not closed yet: nothing announced...
    assert core.store.redis.zscore(schedule, "raced") == pytest.approx(time.time() + 2, abs=1)  # ...but kept
    time.sleep(2.1)
    assert polls.announce_due_closings(core) == 1
    run_jobs(core)
    assert kinds(receiver) == [("poll.closed", "raced")]


def test_scheduling_a_time_the_poll_no_longer_holds_schedules_the_poll_s_own(client, admin, core):
    """A save or a close landing between the poll's write and the schedule's (another slot):
    the schedule ends at what the poll holds, or without a poll closed meanwhile."""
    for poll_id in ("moved-meanwhile", "closed-meanwhile"):
        client.put(f"/api/v1/polls/{poll_id}", json={"question": "?", "closes_at": closing_in(3600)}, headers=admin)
    client.post("/api/v1/polls/closed-meanwhile/close", headers=admin)
    schedule, now = core.store.keys.closing_schedule(), time.time()
    core.store.polls.schedule_closing("moved-meanwhile", now + 60, now)  # a save's time the poll lost
    core.store.polls.schedule_closing("closed-meanwhile", now + 60, now)
    assert core.store.redis.zscore(schedule, "moved-meanwhile") == pytest.approx(now + 3600, abs=5)
    assert core.store.redis.zscore(schedule, "closed-meanwhile") is None
