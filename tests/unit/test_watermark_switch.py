"""The text watermark's switch is the gateway's (gateway/upstream/watermark.py): set per engine
pool whatever the client sent, through the forwarder to the engine actually chosen; the
``watermark`` settings (a pool that marks needs the scheme, for detection); the offline
``provenance detect`` command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from pydantic import ValidationError

from gateway.cli import build_parser
from gateway.core.topology import Engine, Pool
from gateway.provenance.service import build_detector
from gateway.provenance.watermark import WatermarkScheme, load_tokenizer
from gateway.routing.build import build_router
from gateway.routing.view import RouteContext
from gateway.settings import Settings
from gateway.topology import Tenant, Topology
from gateway.upstream.engines import HttpxEngines
from gateway.upstream.forwarder import Forwarder
from gateway.upstream.watermark import marks, payload_for_pool, pool_bodies
from serving.watermark_scheme import REQUEST_ARG
from tests.servers import TEST_WATERMARK
from tests.unit.conftest import IDLE_METRICS

KEY = "00112233445566778899aabbccddeeff"


def _engine(mode: str, url: str = "http://e:1") -> Engine:
    return Engine(url, Pool("p-" + mode, "DE", "s", "cpu", frozenset({"m"}), watermark=mode))


def _switch(body: bytes) -> object:
    xargs = orjson.loads(body).get("vllm_xargs")
    return None if xargs is None else xargs.get(REQUEST_ARG, "absent")


@pytest.mark.parametrize(
    ("mode", "asked", "tenant", "expected"),
    [
        ("off", False, False, False),
        ("off", True, True, False),  # never where the pool does not offer it
        ("on", False, False, True),  # never off where the pool marks all
        ("client", False, False, False),
        ("client", True, False, True),
        ("client", False, True, True),
    ],
)
def test_who_decides(mode: str, asked: bool, tenant: bool, expected: bool) -> None:
    assert marks(mode, asked, tenant) is expected


def test_the_payload_is_overwritten_and_other_xargs_are_kept() -> None:
    asked_off = {"model": "m", "vllm_xargs": {REQUEST_ARG: 0, "other": "x"}}
    assert payload_for_pool(asked_off, True) == {
        "model": "m",
        "vllm_xargs": {REQUEST_ARG: 1, "other": "x"},
    }
    asked_on = {"model": "m", "vllm_xargs": {REQUEST_ARG: "true", "other": "x"}}
    assert payload_for_pool(asked_on, False) == {"model": "m", "vllm_xargs": {"other": "x"}}
    assert payload_for_pool({"model": "m"}, True) == {"model": "m", "vllm_xargs": {REQUEST_ARG: 1}}
    assert payload_for_pool({"model": "m", "vllm_xargs": "junk"}, True) == {
        "model": "m",
        "vllm_xargs": {REQUEST_ARG: 1},
    }
    # Already as it must be: unchanged (the admitted body is sent as it is).
    assert payload_for_pool({"model": "m"}, False) is None
    assert payload_for_pool({"vllm_xargs": {REQUEST_ARG: 1}}, True) is None


def test_the_body_follows_the_engine_pool() -> None:
    payload: dict[str, Any] = {"model": "m", "vllm_xargs": {REQUEST_ARG: 1}}  # the client asks
    body = orjson.dumps(payload)
    off, on, client = _engine("off", "http://a:1"), _engine("on", "http://b:1"), _engine("client")
    bodies = pool_bodies(payload, body, (off, on, client), tenant_wants=False)
    assert bodies is not None
    assert _switch(bodies(off)) == "absent"
    assert bodies(on) is body
    assert bodies(client) is body
    silent: dict[str, Any] = {"model": "m"}
    bodies = pool_bodies(silent, orjson.dumps(silent), (on, client), tenant_wants=False)
    assert bodies is not None
    assert (_switch(bodies(on)), _switch(bodies(client))) == (1, None)
    bodies = pool_bodies(silent, orjson.dumps(silent), (client,), tenant_wants=True)
    assert bodies is not None
    assert _switch(bodies(client)) == 1


def test_nothing_to_decide_costs_nothing() -> None:
    payload = {"model": "m", "vllm_xargs": {"other": 1}}
    assert pool_bodies(payload, b"{}", (_engine("off"),), tenant_wants=True) is None


async def test_the_forwarder_sends_the_failover_engine_its_own_pool_form() -> None:
    """The first engine (an "on" pool) refuses the connection; the request fails over to an
    "off" pool's engine, which must get it without the switch the client sent."""
    settings = Settings(
        watermark={"key": KEY, "tokenizer": "/nowhere/tokenizer.json"},
        pools=[
            {"name": "marking", "jurisdiction": "DE", "site": "a", "models": ["m"],
             "engines": ["http://a.de:1"], "watermark": "on"},
            {"name": "plain", "jurisdiction": "DE", "site": "b", "models": ["m"],
             "engines": ["http://b.de:1"]},
        ],
        routing={"strategy": "round_robin"},
    )  # fmt: skip
    seen: dict[str, bytes] = {}
    tried_marking = False

    def answer(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, text=IDLE_METRICS)
        seen[request.url.host] = request.content
        if request.url.host == "a.de":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json={"choices": []})

    topology = Topology.from_settings(settings)
    payload = {"model": "m", "vllm_xargs": {REQUEST_ARG: 1}}
    body = orjson.dumps(payload)
    tenant = Tenant("t", frozenset({"DE"}), None)
    async with httpx.AsyncClient(transport=httpx.MockTransport(answer)) as client:
        forwarder = Forwarder(HttpxEngines(client), build_router(settings, topology, client))
        bodies = pool_bodies(payload, body, topology.engines, tenant_wants=False)
        for _ in range(2):  # round robin: one of the two starts at the marking pool
            seen.clear()
            result = await forwarder.call(
                tenant,
                topology.engines,
                "/v1/chat/completions",
                body,
                "req_1",
                RouteContext(tenant="t", model="m"),
                body_for=bodies,
            )
            assert result.engine.pool.name == "plain"
            assert _switch(seen["b.de"]) == "absent"
            if "a.de" in seen:
                assert _switch(seen["a.de"]) == 1
                tried_marking = True
    assert tried_marking


def test_a_marking_pool_needs_the_scheme_and_the_key_must_be_real() -> None:
    pool = {"name": "p", "jurisdiction": "DE", "site": "s", "models": ["m"],
            "engines": ["http://e:1"], "watermark": "client"}  # fmt: skip
    with pytest.raises(ValidationError, match="watermark"):
        Settings(pools=[pool])
    for bad in ("not hex", "0011"):
        with pytest.raises(ValidationError, match="watermark key"):
            Settings(pools=[pool], watermark={"key": bad, "tokenizer": "t.json"})
    settings = Settings(pools=[pool], watermark={"key": KEY, "tokenizer": "t.json", "gamma": 0.5})
    assert settings.watermark is not None
    scheme = settings.watermark.scheme()
    assert (scheme.key, scheme.gamma, scheme.tokenizer) == (bytes.fromhex(KEY), 0.5, "t.json")
    assert KEY not in repr(settings.watermark)
    assert Topology.from_settings(settings).pools[0].watermark == "client"


def _green_text(scheme: WatermarkScheme, words: int) -> str:
    """A text whose every word token is green after the previous one: whole-word tokens
    ("Ġword"), so that re-tokenizing the text gives the same ids back."""
    tokenizer = load_tokenizer(scheme.tokenizer)
    vocab = sorted(
        (i, t) for t, i in tokenizer.get_vocab().items() if t[:1] == "Ġ" and t[1:].isalpha()
    )[:4000]
    ids = [vocab[0][0]]
    for step in range(words):
        ids.append(next(i for i, _ in vocab[step % 97 :] if scheme.is_green(ids[-1:], i)))
    return str(tokenizer.decode(ids))


def test_the_cli_detects_offline_with_the_configured_scheme(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    scheme = TEST_WATERMARK
    config = tmp_path / "gateway.yaml"
    config.write_text(f"watermark:\n  tokenizer: {scheme.tokenizer}\n")
    monkeypatch.setenv("SOVEREIGN_WATERMARK__KEY", scheme.key.hex())
    (tmp_path / "marked.txt").write_text(_green_text(scheme, 80))
    (tmp_path / "plain.txt").write_text(
        "The committee met on Tuesday to discuss the budget for next year. After a long "
        "debate, the members agreed to postpone the decision until the auditors had "
        "finished their review of the accounts, which is expected in early spring."
    )
    parser = build_parser()
    marked = parser.parse_args(["provenance", "detect", "--config", str(config),
                                "--text-file", str(tmp_path / "marked.txt")])  # fmt: skip
    assert marked.func(marked) == 0
    found = orjson.loads(capsys.readouterr().out)
    assert found["detected"] is True
    assert found["z"] > 8
    plain = parser.parse_args(["provenance", "detect", "--config", str(config),
                               "--text-file", str(tmp_path / "plain.txt")])  # fmt: skip
    assert plain.func(plain) == 1
    assert orjson.loads(capsys.readouterr().out)["detected"] is False
    monkeypatch.delenv("SOVEREIGN_WATERMARK__KEY")
    config.write_text("server: {port: 8081}\n")
    with pytest.raises(SystemExit, match="no `watermark` section"):
        plain.func(plain)


def test_a_missing_tokenizer_fails_the_start_not_each_verification() -> None:
    settings = Settings(watermark={"key": KEY, "tokenizer": "/nowhere/tokenizer.json"})
    with pytest.raises(RuntimeError, match=r"watermark\.tokenizer"):
        build_detector(settings.watermark)
    assert build_detector(None) is None
