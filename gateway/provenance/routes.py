"""The public routes of provenance: no tenant key, for anyone holding an answer.

::

    GET  /.well-known/sovereign-provenance/jwks.json   the public keys (JWKS, RFC 7517)
    POST /v1/provenance/verify                         {"text", "token"?} -> token verdict,
                                                       watermark detection (rate-limited)
"""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from gateway.errors import InvalidRequest
from gateway.provenance.service import Provenance
from gateway.provenance.verify import VerifyRequest

JWKS_PATH = "/.well-known/sovereign-provenance/jwks.json"
router = APIRouter(tags=["provenance"])


def _provenance(request: Request) -> Provenance:
    provenance: Provenance = request.state.provenance
    return provenance


Signer = Annotated[Provenance, Depends(_provenance)]


@router.get(JWKS_PATH, summary="The provenance tokens' public keys (JWKS)")
async def jwks(provenance: Signer) -> JSONResponse:
    # Public and rarely changed: caches may keep it a while (a rotation adds, never removes
    # at once: the old key stays published while its tokens matter).
    return JSONResponse(provenance.jwks(), headers={"cache-control": "public, max-age=300"})


@router.post("/v1/provenance/verify", summary="Verify a provenance token and the watermark")
async def verify(body: VerifyRequest, request: Request, provenance: Signer) -> dict[str, Any]:
    verifier = provenance.verifier
    verifier.admit(request.client.host if request.client else None)
    if len(body.text) > provenance.settings.verify_max_chars:
        raise InvalidRequest(
            f"text is longer than {provenance.settings.verify_max_chars} characters",
            param="text",
            code="text_too_long",
        )
    if verifier.detector is None:
        return verifier.check(body)
    return await anyio.to_thread.run_sync(verifier.check, body)  # re-tokenizing: CPU work
