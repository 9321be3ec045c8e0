"""The per-process read cache: what it may serve, and when it must go back to Redis."""

from service.store.cache import ReadCache


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make_cache(live=True, ttl=5.0):
    ticks = Ticks()
    state = {"live": live, "since": 0.0}
    cache = ReadCache(ttl=ttl, watch=lambda tag: state["since"] if state["live"] else None, clock=ticks)
    return cache, ticks, state


def test_a_loaded_value_is_served_until_its_tag_changes():
    cache, ticks, _ = make_cache()
    loads = []
    assert cache.load("k", "poll-a", lambda: loads.append(1) or "v1") == "v1"
    ticks.now += 1
    assert cache.load("k", "poll-a", lambda: loads.append(1) or "v2") == "v1"
    cache.changed("poll-b")
    assert cache.get("k", "poll-a") == "v1"
    ticks.now += 0.001
    cache.changed("poll-a")
    assert cache.get("k", "poll-a") is None
    assert cache.load("k", "poll-a", lambda: loads.append(1) or "v3") == "v3"
    assert len(loads) == 2


def test_a_load_that_raced_a_change_is_not_kept():
    cache, ticks, _ = make_cache()

    def slow_load():
        ticks.now += 0.01
        cache.changed("poll-a")  # the change lands while Redis is being read
        ticks.now += 0.01
        return "read before the change"

    assert cache.load("k", "poll-a", slow_load) == "read before the change"
    assert cache.get("k", "poll-a") is None


def test_nothing_is_served_past_the_ttl_or_while_the_subscription_is_down():
    cache, ticks, state = make_cache(ttl=5.0)
    cache.load("k", "poll-a", lambda: "v")
    ticks.now += 4.9
    assert cache.get("k", "poll-a") == "v"
    ticks.now += 0.2
    assert cache.get("k", "poll-a") is None

    cache.load("k", "poll-a", lambda: "w")
    state["live"] = False
    assert cache.get("k", "poll-a") is None
    assert cache.load("k", "poll-a", lambda: "from redis") == "from redis"
    state["live"] = True
    assert cache.get("k", "poll-a") == "w", "a load made while down is not kept"


def test_clear_drops_everything_and_none_is_never_kept():
    cache, ticks, _ = make_cache()
    cache.load("a", "poll-a", lambda: 1)
    cache.load("b", "poll-b", lambda: 2)
    ticks.now += 0.001
    cache.clear()
    assert cache.get("a", "poll-a") is None and cache.get("b", "poll-b") is None
    assert cache.load("c", "poll-c", lambda: None) is None
    assert cache.load("c", "poll-c", lambda: "now") == "now"


def test_a_ttl_of_zero_turns_the_cache_off_and_the_size_is_bounded():
    off, _, _ = make_cache(ttl=0)
    off.load("k", "poll-a", lambda: "v")
    assert off.get("k", "poll-a") is None
    small = ReadCache(ttl=5, max_entries=3, clock=Ticks())
    for n in range(5):
        small.put(n, f"poll-{n}", n, loaded_at=99.0)
    assert [small.get(n, f"poll-{n}") for n in range(5)] == [None, None, 2, 3, 4]
