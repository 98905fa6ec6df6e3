"""Routing strategies on hand-made engine views: each orders, none adds or drops."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.routing.strategies.affinity import SessionAffinity, hrw_score
from gateway.routing.strategies.base import Strategy
from gateway.routing.strategies.least_load import LeastLoad
from gateway.routing.strategies.preference import SitePreference
from gateway.routing.strategies.registry import STRATEGIES, build_strategy
from gateway.routing.strategies.round_robin import RoundRobin
from gateway.routing.view import EngineView, RouteContext
from gateway.topology import Engine, Pool

CTX = RouteContext(tenant="acme", model="llama-70b")


def view(
    url: str,
    *,
    site: str = "de-muc-1",
    gpu: str = "rtx-pro-6000",
    running: float = 0.0,
    waiting: float = 0.0,
    kv_usage: float = 0.0,
    inflight: int = 0,
    healthy: bool = True,
    stale: bool = False,
) -> EngineView:
    pool = Pool(f"{site}-{gpu}", "DE", site, gpu, frozenset({"llama-70b"}))
    return EngineView(
        Engine(url, pool),
        healthy=healthy,
        running=running,
        waiting=waiting,
        kv_usage=kv_usage,
        inflight=inflight,
        stale=stale,
    )


def urls(views: Sequence[EngineView]) -> list[str]:
    return [v.engine.url for v in views]


def first(strategy: Strategy, views: Sequence[EngineView], ctx: RouteContext = CTX) -> str:
    return strategy.rank(views, ctx)[0].engine.url


# --- least load -----------------------------------------------------------------------------


def test_least_load_picks_the_emptiest() -> None:
    views = [view("a", running=5), view("b", running=1), view("c", running=3)]
    assert urls(LeastLoad().rank(views, CTX)) == ["b", "c", "a"]


def test_waiting_weighs_more_than_running_and_inflight_counts() -> None:
    assert first(LeastLoad(), [view("run", running=4), view("wait", waiting=3)]) == "run"
    busy_since_scrape = view("sent", running=1, inflight=3)
    assert first(LeastLoad(), [busy_since_scrape, view("idle", running=2)]) == "idle"


def test_load_is_weighted_by_gpu_class() -> None:
    b200 = view("b200", gpu="b200", running=10)  # 10 / 2.0 = 5
    rtx = view("rtx", running=6)
    assert first(LeastLoad(), [rtx, b200]) == "b200"
    assert first(LeastLoad({"b200": 1.0}), [rtx, b200]) == "rtx"
    unknown = view("mystery", gpu="tpu-9", running=5)  # unknown classes weigh 1
    assert first(LeastLoad(), [unknown, view("rtx", running=6)]) == "mystery"


def test_kv_pressure_matters_only_near_full() -> None:
    nearly_full = view("full", running=2, kv_usage=0.97)
    roomy = view("roomy", running=40, kv_usage=0.5)
    assert first(LeastLoad(), [nearly_full, roomy]) == "roomy"
    # Below the knee the cache does not count: the lighter engine wins.
    assert first(LeastLoad(), [view("a", running=1, kv_usage=0.75), view("b", running=2)]) == "a"


def test_stale_is_never_taken_for_idle_and_unhealthy_goes_last() -> None:
    views = [
        view("down", healthy=False),
        view("stale", stale=True),
        view("busy", running=200, waiting=50, kv_usage=0.99),
    ]
    assert urls(LeastLoad().rank(views, CTX)) == ["busy", "stale", "down"]


def test_least_load_ties_take_turns_whatever_the_input_order() -> None:
    views = [view("a"), view("b"), view("c")]
    forward, backward = LeastLoad(), LeastLoad()
    picks = [first(forward, views) for _ in range(6)]
    assert picks == [first(backward, views[::-1]) for _ in range(6)]
    assert Counter(picks) == {"a": 2, "b": 2, "c": 2}


def test_least_load_rejects_non_positive_weights() -> None:
    with pytest.raises(ValueError, match="positive"):
        LeastLoad({"b200": 0.0})


# --- round robin ----------------------------------------------------------------------------


def test_round_robin_rotates_the_start() -> None:
    rr, views = RoundRobin(), [view("a"), view("b"), view("c")]
    assert [urls(rr.rank(views, CTX)) for _ in range(3)] == [
        ["a", "b", "c"],
        ["b", "c", "a"],
        ["c", "a", "b"],
    ]


def test_round_robin_puts_stale_and_unhealthy_last_and_keeps_rotating() -> None:
    rr = RoundRobin()
    views = [view("down", healthy=False), view("a"), view("stale", stale=True), view("b")]
    ranked = [urls(rr.rank(views, CTX)) for _ in range(4)]
    assert Counter(r[0] for r in ranked) == {"a": 2, "b": 2}
    assert all(r[2:] in (["stale", "down"], ["down", "stale"]) for r in ranked)
    assert all(r.index("stale") < r.index("down") for r in ranked)


def test_round_robin_spreads_each_candidate_set_on_its_own() -> None:
    # Requests for two models alternate; one shared counter would pin each model to one engine.
    rr = RoundRobin()
    model_a, model_b = [view("a1"), view("a2")], [view("b1"), view("b2")]
    picks: Counter[str] = Counter()
    for _ in range(4):
        picks[first(rr, model_a)] += 1
        picks[first(rr, model_b)] += 1
    assert picks == {"a1": 2, "a2": 2, "b1": 2, "b2": 2}


# --- session affinity -----------------------------------------------------------------------

ENGINES = [f"http://10.0.0.{i}:8000" for i in range(1, 6)]
KEYS = [f"session-{i}" for i in range(1000)]


def placement(
    engines: Sequence[str], keys: Sequence[str] = KEYS, gpu: str = "rtx-pro-6000"
) -> dict[str, str]:
    views = [view(u, gpu=gpu) for u in engines]
    aff = SessionAffinity()
    return {k: first(aff, views, RouteContext("acme", "m", session_key=k)) for k in keys}


def test_same_key_same_engine_across_instances() -> None:
    views = [view(u) for u in ENGINES]
    ctx = RouteContext("acme", "m", session_key="chat-42")
    picks = {first(SessionAffinity(), views, ctx) for _ in range(5)}
    picks.add(first(SessionAffinity(), views[::-1], ctx))
    assert len(picks) == 1


def test_keys_spread_over_engines() -> None:
    counts = Counter(placement(ENGINES).values())
    assert set(counts) == set(ENGINES)
    assert all(140 <= n <= 260 for n in counts.values())  # 200 each on average


def test_bounded_load_spills_to_the_next_engine_in_hash_order() -> None:
    ctx = RouteContext("acme", "m", session_key="hot-session")
    order = urls(SessionAffinity().rank([view(u) for u in ENGINES], ctx))
    # Average load with this request: (10 + 1) / 5 = 2.2, bound ceil(1.25 x 2.2) = 3.
    views = [view(u, running=10 if u == order[0] else 0) for u in ENGINES]
    spilled = urls(SessionAffinity().rank(views, ctx))
    assert spilled == [*order[1:], order[0]]
    # Within the bound the session stays put, though its engine is the busiest:
    # (3 + 4 x 2 + 1) / 5 = 2.4, bound ceil(1.25 x 2.4) = 3.
    views = [view(u, running=3 if u == order[0] else 2) for u in ENGINES]
    assert first(SessionAffinity(), views, ctx) == order[0]


def test_adding_an_engine_moves_about_one_in_n_sessions() -> None:
    before = placement(ENGINES)
    new = "http://10.0.0.99:8000"
    after = placement([*ENGINES, new])
    moved = [k for k in KEYS if before[k] != after[k]]
    assert all(after[k] == new for k in moved)  # only to the newcomer, never reshuffled
    assert 0.11 <= len(moved) / len(KEYS) <= 0.23  # 1/6 expected


def test_removing_an_engine_moves_only_its_sessions() -> None:
    before = placement(ENGINES)
    gone = ENGINES[2]
    after = placement([u for u in ENGINES if u != gone])
    moved = {k for k in KEYS if before[k] != after[k]}
    assert moved == {k for k in KEYS if before[k] == gone}
    assert 0.14 <= len(moved) / len(KEYS) <= 0.26  # 1/5 expected


def test_sessions_follow_gpu_capacity() -> None:
    views = [view("http://b200:8000", gpu="b200"), view("http://rtx:8000")]
    aff = SessionAffinity()
    picks = Counter(first(aff, views, RouteContext("acme", "m", session_key=k)) for k in KEYS)
    assert 0.60 <= picks["http://b200:8000"] / len(KEYS) <= 0.73  # weight 2 of 3


def test_unhealthy_or_stale_home_engine_yields_to_the_next_in_hash_order() -> None:
    ctx = RouteContext("acme", "m", session_key="chat-7")
    order = urls(SessionAffinity().rank([view(u) for u in ENGINES], ctx))
    views = [view(u, healthy=u != order[0], stale=u == order[1]) for u in ENGINES]
    assert urls(SessionAffinity().rank(views, ctx)) == [*order[2:], order[1], order[0]]


def test_no_session_key_uses_the_fallback() -> None:
    class Reverse:
        name = "reverse"

        def rank(self, views: Sequence[EngineView], ctx: RouteContext) -> list[EngineView]:
            return list(views)[::-1]

    views = [view("a"), view("b"), view("c")]
    assert urls(SessionAffinity(fallback=Reverse()).rank(views, CTX)) == ["c", "b", "a"]
    busy = [view("a", running=9), view("b", running=1)]
    assert first(SessionAffinity(), busy) == "b"  # default fallback: least load


def test_hrw_score_is_stable_and_tenant_scoped() -> None:
    # A fixed value guards against anyone swapping in Python's per-process salted hash().
    assert hrw_score("acme", "k", "http://a") == pytest.approx(3.8254262707656017)
    assert hrw_score("acme", "k", "http://a") != hrw_score("other", "k", "http://a")
    assert hrw_score("acme", "k", "http://a", 2.0) == 2 * hrw_score("acme", "k", "http://a")


def test_affinity_rejects_a_load_factor_below_one() -> None:
    with pytest.raises(ValueError, match="load_factor"):
        SessionAffinity(load_factor=0.9)


# --- site preference ------------------------------------------------------------------------


def test_preferred_sites_come_first_in_order_each_tier_ranked_by_inner() -> None:
    views = [
        view("muc-busy", site="muc", running=9),
        view("ber", site="ber", running=0),
        view("fra", site="fra", running=5),
        view("muc-idle", site="muc", running=1),
    ]
    ctx = RouteContext("acme", "m", preferred_sites=("muc", "fra"))
    assert urls(SitePreference(LeastLoad()).rank(views, ctx)) == [
        "muc-idle",
        "muc-busy",
        "fra",
        "ber",
    ]


def test_healthy_engines_anywhere_before_a_failing_preferred_site() -> None:
    views = [
        view("muc-down", site="muc", healthy=False),
        view("muc-stale", site="muc", stale=True),
        view("fra", site="fra", running=50),
        view("ber-stale", site="ber", stale=True),
    ]
    ctx = RouteContext("acme", "m", preferred_sites=("muc",))
    assert urls(SitePreference(LeastLoad()).rank(views, ctx)) == [
        "fra",
        "muc-stale",
        "ber-stale",
        "muc-down",
    ]


def test_no_preference_is_the_inner_order() -> None:
    views = [view("a", running=3), view("b", site="ber", running=1)]
    assert urls(SitePreference(LeastLoad()).rank(views, CTX)) == ["b", "a"]


# --- registry -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", STRATEGIES)
def test_every_strategy_is_built_with_site_preference(name: str) -> None:
    strategy = build_strategy(name)
    assert strategy.name == name
    views = [view("far", site="ber"), view("near", site="muc", running=3)]
    ctx = RouteContext("acme", "m", session_key="s", preferred_sites=("muc",))
    assert first(strategy, views, ctx) == "near"


def test_registry_affinity_falls_back_to_least_load_and_passes_weights() -> None:
    views = [view("rtx", running=3), view("b200", gpu="b200", running=5)]
    assert first(build_strategy("affinity"), views) == "b200"
    assert first(build_strategy("affinity", gpu_weights={"b200": 1.0}), views) == "rtx"


def test_unknown_strategy_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match="round_robin, least_load, affinity"):
        build_strategy("random")


# --- invariant: a strategy only orders ------------------------------------------------------

views_st = st.lists(
    st.builds(
        view,
        st.sampled_from([f"http://e{i}" for i in range(8)]),  # duplicates allowed on purpose
        site=st.sampled_from(["muc", "fra", "ber"]),
        gpu=st.sampled_from(["b200", "h100", "rtx-pro-6000", "cpu", "other"]),
        running=st.floats(0, 600, allow_nan=False),
        waiting=st.floats(0, 600, allow_nan=False),
        kv_usage=st.floats(0, 1, allow_nan=False),
        inflight=st.integers(0, 100),
        healthy=st.booleans(),
        stale=st.booleans(),
    ),
    max_size=12,
)
ctx_st = st.builds(
    RouteContext,
    tenant=st.sampled_from(["acme", "globex"]),
    model=st.just("m"),
    session_key=st.none() | st.text(max_size=12),
    preferred_sites=st.lists(st.sampled_from(["muc", "fra", "ber", "nowhere"])).map(tuple),
)
strategy_st = st.sampled_from(STRATEGIES).map(build_strategy) | st.sampled_from(
    [RoundRobin(), LeastLoad(), SessionAffinity(), SessionAffinity(1.0, RoundRobin())]
)


@settings(max_examples=300, deadline=None)
@given(strategy=strategy_st, views=views_st, ctx=ctx_st, calls=st.integers(1, 3))
def test_every_strategy_returns_a_permutation_of_its_input(
    strategy: Strategy, views: list[EngineView], ctx: RouteContext, calls: int
) -> None:
    for _ in range(calls):  # rotation state must not change the invariant
        ranked = strategy.rank(views, ctx)
        assert sorted(map(id, ranked)) == sorted(map(id, views))
