"""``_Worker``'s guards against Redis outages override RQ's methods by name."""

from __future__ import annotations

import rq
from rq.worker import Worker

from service.store.jobs import GUARDED_RQ_METHODS, _Worker


def test_the_guarded_rq_methods_still_exist_in_rq():
    """If RQ renames one, its guard would silently stop applying: this fails first
    (written against RQ 3.0; tests/faults/test_worker_redis_outages.py tests the guards)."""
    for name in GUARDED_RQ_METHODS:
        assert callable(getattr(Worker, name, None)), f"rq {rq.__version__}: Worker has no {name}; re-check _Worker"
        assert name in vars(_Worker), f"_Worker no longer overrides {name}"
