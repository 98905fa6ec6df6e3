"""Signing on the request path: whether an answer is signed, and its token, built once in the
lifespan (``build_provenance``) and used by the shape stage."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import structlog

from gateway.core.topology import Engine
from gateway.provenance.answer_text import whole_text
from gateway.provenance.keys import KeyRing, SigningKey, ephemeral_key, load_key
from gateway.provenance.settings import ProvenanceSettings, WatermarkSettings
from gateway.provenance.stream import ProvenanceStream
from gateway.provenance.token import Facts, claims_of, sign
from gateway.provenance.typed_stream import TypedProvenanceStream
from gateway.provenance.verify import Buckets, Detector, Verifier
from gateway.provenance.watermark import detect, load_tokenizer
from gateway.upstream.relay import RelaySource

if TYPE_CHECKING:
    from gateway.pipeline.context import RequestContext

HEADER = "x-sovereign-provenance"
log = structlog.get_logger("gateway.provenance")


def signs(tenant_mode: str | None, default: str, policy_requires: bool) -> bool:
    """Whether a tenant's answers are signed: its policy may require it; else its own
    choice; else the deployment's default."""
    if policy_requires:
        return True
    return (tenant_mode or default) == "on"


class Provenance:
    def __init__(
        self,
        settings: ProvenanceSettings,
        ring: KeyRing,
        gateway: str,
        clock: Callable[[], float] = time.time,
        detector: Detector | None = None,
    ) -> None:
        self.settings = settings
        self.ring = ring
        # The public endpoint's side: checks tokens against this ring's JWKS.
        per_second = settings.verify_per_minute / 60
        self.verifier = Verifier(ring.jwks, Buckets(per_second, settings.verify_burst), detector)
        self._gateway = gateway
        self._clock = clock

    def jwks(self) -> dict[str, Any]:
        return self.ring.jwks()

    def on(self, ctx: RequestContext) -> bool:
        if not ctx.endpoint.generates:
            return False
        applied = ctx.applied
        required = applied is not None and applied.policy.require_provenance
        return signs(ctx.tenant.provenance, self.settings.default, required)

    def token(self, ctx: RequestContext, engine: Engine, text: str) -> str:
        """The token for ``text``, kept on the context for the request's audit record."""
        pool = engine.pool
        facts = Facts(
            request_id=ctx.request_id,
            model=ctx.checked.model,
            pool=pool.name,
            jurisdiction=pool.jurisdiction,
            site=pool.site,
            gateway=self._gateway,
            deployer=self.settings.deployer,
            watermark=ctx.watermarked,
        )
        token = sign(self.ring.signing, claims_of(facts, text, self._clock()))
        ctx.provenance = token
        return token

    def whole(self, ctx: RequestContext, engine: Engine, body: bytes) -> str | None:
        """The token of a whole answer's body as sent; None if it holds no answer."""
        text = whole_text(body)
        return None if text is None else self.token(ctx, engine, text)

    def stream(self, ctx: RequestContext, engine: Engine, source: RelaySource) -> RelaySource:
        """The stream with its token at its end: a last chunk before ``[DONE]`` (chat,
        completions), or a member of its end event (Responses API, Anthropic Messages)."""

        def signed(text: str) -> str:
            return self.token(ctx, engine, text)

        if ctx.endpoint.api == "anthropic":
            return TypedProvenanceStream(source, signed, "messages")
        if ctx.endpoint.path == "/v1/responses":
            return TypedProvenanceStream(source, signed, "responses")
        return ProvenanceStream(source, signed)


def build_provenance(
    settings: ProvenanceSettings, gateway: str, detector: Detector | None = None
) -> Provenance:
    """The keys configured, or an ephemeral one (logged: its tokens verify only while this
    process runs, and only against this process's JWKS)."""
    keys: list[SigningKey] = [load_key(k) for k in settings.keys]
    if not keys:
        keys = [ephemeral_key()]
        log.info("provenance_ephemeral_key", kid=keys[0].kid)
    return Provenance(settings, KeyRing(keys), gateway, detector=detector)


def build_detector(settings: WatermarkSettings | None) -> Detector | None:
    """The verify endpoint's watermark detector (None: no watermark configured). The
    tokenizer is read now: a wrong path fails the start, not every verification."""
    if settings is None:
        return None
    scheme = settings.scheme()
    try:
        load_tokenizer(scheme.tokenizer)
    except Exception as exc:  # tokenizers raises a bare Exception for a missing/bad file
        raise RuntimeError(
            f"watermark.tokenizer: cannot read a tokenizer from {scheme.tokenizer!r} ({exc})"
        ) from exc
    return functools.partial(
        detect, scheme=scheme, threshold_z=settings.threshold_z, min_tokens=settings.min_tokens
    )
