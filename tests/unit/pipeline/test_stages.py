"""Each stage of the request path on its own, through its seams (fakes for its
collaborators); the whole path runs in tests/unit/test_proxy.py and the e2e tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

import pytest
from starlette.types import Message

from gateway.core.limits import Decision, Limits, Scope
from gateway.core.tenant import Principal, Tenant
from gateway.core.topology import Engine, Pool
from gateway.errors import (
    AuthenticationFailed,
    GatewayError,
    InvalidRequest,
    ModelNotFound,
    NoPoolForDataClass,
    RateLimited,
)
from gateway.identity.bearer import Authenticator
from gateway.metering.service import Admission
from gateway.metering.stream_usage import UsageAsked
from gateway.pipeline.context import RequestContext
from gateway.pipeline.endpoints import CHAT, EMBEDDINGS
from gateway.pipeline.path import Pipeline
from gateway.pipeline.stages.admit import Admit, serialised
from gateway.pipeline.stages.authenticate import Authenticate
from gateway.pipeline.stages.policy import cleared
from gateway.pipeline.stages.read import Read
from gateway.pipeline.stages.residency import Residency
from gateway.privacy.applied import Applied
from gateway.settle import Settlement
from gateway.topology import Topology
from policies.model import load_preset
from tests.unit.conftest import make_settings

POOL = Pool("de", "DE", "de-1", "b200", frozenset({"smollm2"}))
CLEARED = Pool("de-art9", "DE", "de-2", "b200", frozenset({"smollm2"}),
               data_classes=frozenset({"special-category"}))  # fmt: skip
ENGINES = (Engine("http://e1", POOL), Engine("http://e2", CLEARED))
TENANT = Tenant("acme", frozenset({"DE"}), None)


def receiving(*bodies: bytes) -> Callable[[], Awaitable[Message]]:
    messages: list[Message] = [
        {"type": "http.request", "body": b, "more_body": i < len(bodies) - 1}
        for i, b in enumerate(bodies)
    ]

    async def receive() -> Message:
        return messages.pop(0)

    return receive


def context(*bodies: bytes, headers: dict[str, str] | None = None, **fields: Any) -> RequestContext:
    ctx = RequestContext(
        "req_1", fields.pop("endpoint", CHAT), headers or {}, receiving(*bodies), Settlement()
    )
    ctx.principal = Principal(TENANT, "k1", (Scope("acme", "tenant", Limits()),))
    for name, value in fields.items():
        setattr(ctx, name, value)
    return ctx


# authenticate


class _Directory:
    def __init__(self, error: AuthenticationFailed | None = None) -> None:
        self.error = error

    def authenticate(self, authorization: str | None) -> Principal:
        if self.error is not None:
            raise self.error
        return Principal(TENANT, "k1")


class _Failures:
    def __init__(self) -> None:
        self.recorded: list[tuple[str, str, str | None, str | None]] = []

    def record(self, surface: str, reason: str, credential: str | None, client: str | None) -> None:
        self.recorded.append((surface, reason, credential, client))


def _authenticator(directory: _Directory, failures: _Failures) -> Authenticator:
    return Authenticator(cast(Any, directory), cast(Any, failures), None, str)


async def test_authenticate_sets_the_principal_or_counts_the_failure() -> None:
    failures = _Failures()
    ctx = context(headers={"authorization": "Bearer sk-1"})
    ctx.principal = None
    await Authenticate(_authenticator(_Directory(), failures))(ctx)
    assert ctx.tenant is TENANT

    ctx.principal, ctx.client = None, "10.0.0.9"
    refused = AuthenticationFailed("Incorrect API key provided.")
    with pytest.raises(AuthenticationFailed):
        await Authenticate(_authenticator(_Directory(refused), failures))(ctx)
    assert failures.recorded == [("api", refused.reason, "Bearer sk-1", "10.0.0.9")]


# read


class _Observability:
    def __init__(self) -> None:
        self.started: list[tuple[Any, ...]] = []

    def subject_ref(self, subject: str | None) -> str | None:
        return None if subject is None else f"ref({subject})"

    def start(self, *args: Any) -> Any:
        self.started.append(args)
        return "span"


def reader() -> tuple[Read, _Observability]:
    settings = make_settings()
    observability = _Observability()
    return Read(settings, Topology.from_settings(settings), cast(Any, observability)), observability


async def test_read_checks_the_body_in_pieces_and_takes_hints_from_headers_and_user() -> None:
    read, observability = reader()
    body = b'{"model": "smollm2", "messages": [{"role": "user", "content": "Hi"}], '
    ctx = context(body, b'"stream": true, "user": "u-7"}',
                  headers={"x-sovereign-priority": "batch"})  # fmt: skip
    await read(ctx)
    assert ctx.stream is True
    assert ctx.usage_asked == UsageAsked(final=False, continuous=False)
    assert (ctx.hints.session, ctx.hints.subject, ctx.hints.priority) == ("u-7", "u-7", "batch")
    assert ctx.subject_ref == "ref(u-7)"
    assert ctx.model == "smollm2"
    assert observability.started[0][:2] == ("chat.completions", "smollm2")


async def test_a_tokens_subject_is_the_data_subject_whatever_the_body_or_headers_say() -> None:
    read, _ = reader()
    body = b'{"model": "smollm2", "messages": [{"role": "user", "content": "Hi"}], "user": "u-7"}'
    ctx = context(body, headers={"x-sovereign-subject": "someone-else"})
    ctx.principal = Principal(TENANT, "jwt:kc", subject="alice@example.de")
    await read(ctx)
    assert ctx.hints.subject == "alice@example.de"
    assert ctx.subject_ref == "ref(alice@example.de)"
    assert ctx.hints.session == "u-7"  # affinity still follows the client's own hint


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        (b"{not json", "invalid_json", None),
        (b'{"model": "smollm2", "messages": [{"role": "user", "content": "\\ud800"}]}',
         "invalid_json", None),
        (b'{"model": "smollm2", "messages": []}', "invalid_value", "messages"),
        (b'{"model": "smollm2", "messages": [{"role": "user"}], "seed": 1e999}',
         "invalid_value", "seed"),
    ],
)  # fmt: skip
async def test_read_refuses_what_cannot_be_forwarded(
    body: bytes, code: str, param: str | None
) -> None:
    read, observability = reader()
    with pytest.raises(InvalidRequest) as refused:
        await read(context(body))
    assert (refused.value.code, refused.value.param) == (code, param)
    assert observability.started == []  # refused before any span: nothing was asked


async def test_read_names_an_unserved_model_other_until_it_is_refused() -> None:
    read, _ = reader()
    ctx = context(b'{"model": "max@example.de", "messages": [{"role": "user", "content": "x"}]}')
    await read(ctx)
    assert ctx.model == "other"


# residency and policy


async def test_residency_leaves_only_engines_the_tenant_may_use() -> None:
    topology = Topology((POOL,), ENGINES[:1])
    ctx = context()
    ctx.request = CHAT.schema.model_validate({"model": "smollm2", "messages": [{"role": "user"}]})
    await Residency(topology)(ctx)
    assert ctx.candidates == ENGINES[:1]
    ctx.request = CHAT.schema.model_validate({"model": "nope", "messages": [{"role": "user"}]})
    with pytest.raises(ModelNotFound):
        await Residency(topology)(ctx)


def test_a_routed_data_class_narrows_the_candidates_to_cleared_pools() -> None:
    applied = Applied(load_preset("public-sector-strict"), "enforce", tenant="acme")
    assert cleared(ENGINES, applied) == ENGINES  # nothing routed
    applied.route_classes = frozenset({"special-category"})
    assert cleared(ENGINES, applied) == ENGINES[1:]
    with pytest.raises(NoPoolForDataClass):
        cleared(ENGINES[:1], applied)


# admit


class _Metering:
    def __init__(self, refuse: bool = False) -> None:
        self.refuse = refuse
        self.admitted: list[int] = []

    async def admit(self, principal: Principal, estimate: int, request_id: str) -> Admission:
        if self.refuse:
            raise RateLimited("slow down")
        self.admitted.append(estimate)
        return Admission(Decision(True, None, None, None), shared=True)


class _Monitor:
    def __init__(self, length: int | None) -> None:
        self.length = length

    def context_length(self, model: str, engines: tuple[Engine, ...]) -> int | None:
        return self.length


class _Records:
    def __init__(self) -> None:
        self.made: list[RequestContext] = []

    def recorder(self, ctx: RequestContext) -> Any:
        self.made.append(ctx)

        class _Recorder:
            content = None
            analysis = None

            async def abandon(self) -> None:
                return None

        return _Recorder()


def admitter(metering: _Metering, length: int | None = 2048) -> tuple[Admit, _Records]:
    records = _Records()
    privacy = cast(Any, type("P", (), {"analysis": None})())
    admit = Admit(
        cast(Any, metering), cast(Any, records), cast(Any, _Monitor(length)), privacy, 256
    )
    return admit, records


def admitted_context(payload: dict[str, Any], *, limited: bool = True, **fields: Any) -> Any:
    ctx = context(**fields)
    ctx.request = (fields.get("endpoint") or CHAT).schema.model_validate(payload)
    ctx.payload = payload
    ctx.candidates = ENGINES[:1]
    limits = Limits(tokens_per_minute=10_000) if limited else Limits()
    ctx.principal = Principal(TENANT, "k1", (Scope("acme", "tenant", limits),))
    return ctx


CHAT_BODY = {"model": "smollm2", "messages": [{"role": "user", "content": "Hallo"}]}


async def test_admit_serialises_estimates_within_the_context_and_registers_the_recorder() -> None:
    metering = _Metering()
    admit, records = admitter(metering)
    ctx = admitted_context({**CHAT_BODY, "max_tokens": 100, "stream": True}, stream=True)
    await admit(ctx)
    assert b'"include_usage":true' in ctx.body  # the engine's usage is always asked for
    assert 100 < ctx.estimate < 200
    assert metering.admitted == [ctx.estimate]
    assert records.made == [ctx]
    assert ctx.settlement._actions  # the net holds the recorder from here on


async def test_admit_refuses_a_completion_beyond_the_context_before_any_charge() -> None:
    metering = _Metering()
    admit, records = admitter(metering, length=2048)
    with pytest.raises(InvalidRequest) as refused:
        await admit(admitted_context({**CHAT_BODY, "max_tokens": 4096}))
    assert refused.value.code == "context_length_exceeded"
    assert metering.admitted == []
    assert records.made == []


async def test_admit_estimates_nothing_without_token_limits_and_nothing_for_embeddings() -> None:
    metering = _Metering()
    admit, _ = admitter(metering)
    await admit(admitted_context({**CHAT_BODY, "max_tokens": 100}, limited=False))
    embedding = {"model": "smollm2", "input": "Hallo"}
    await admit(admitted_context(embedding, endpoint=EMBEDDINGS))
    assert metering.admitted[0] == 0
    assert 0 < metering.admitted[1] < 10  # the prompt only: an embedding generates nothing


def test_a_value_that_cannot_be_sent_is_the_requests_fault() -> None:
    with pytest.raises(InvalidRequest):
        serialised({"x": 2**70})


# the path


class _Stage:
    def __init__(self, name: str, calls: list[str], error: GatewayError | None = None) -> None:
        self.name, self.calls, self.error = name, calls, error

    async def __call__(self, ctx: RequestContext) -> None:
        self.calls.append(self.name)
        if self.error is not None:
            raise self.error


class _RefusalRecords:
    def __init__(self) -> None:
        self.refused: list[tuple[str | None, bool]] = []

    async def refused_(self, ctx: RequestContext, error: GatewayError, served: bool) -> None:
        self.refused.append((error.code, served))


async def test_the_path_runs_its_stages_in_order_and_records_a_refusal_once() -> None:
    calls: list[str] = []
    records = _RefusalRecords()
    fake_records = cast(Any, type("R", (), {"refused": records.refused_})())
    pipeline = Pipeline(
        _Stage("authenticate", calls),
        _Stage("read", calls),
        (_Stage("residency", calls), _Stage("policy", calls),
         _Stage("admit", calls, RateLimited("slow down"))),
        cast(Any, None),
        cast(Any, None),
        fake_records,
    )  # fmt: skip
    ctx = context()
    ctx.request = CHAT.schema.model_validate(CHAT_BODY)
    ctx.model = "smollm2"
    with pytest.raises(RateLimited):
        await pipeline.handle(ctx)
    assert calls == ["authenticate", "read", "residency", "policy", "admit"]
    assert records.refused == [("rate_limit_exceeded", True)]
