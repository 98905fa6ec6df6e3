"""Disclose: the deployer's notice that an AI answers (EU AI Act Art. 50(1)), when the
tenant's ``ai_disclosure`` asks for it and the request is a conversation's first turn
(``gateway/disclosure/notice.py``). In ``system_prompt`` mode this stage adds the instruction
to the request, after the GDPR policy (it holds no personal data and is never masked) and
before admit serialises and estimates it. ``first_answer`` mode acts in ``shape.py``, on the
answer as the client gets it (``owed_by``)."""

from __future__ import annotations

from gateway.disclosure.notice import Owed, instruction_of, owed
from gateway.disclosure.prompt import add_instruction
from gateway.pipeline.context import RequestContext


def owed_by(ctx: RequestContext) -> Owed | None:
    """The disclosure this request's answer owes (pure: the tenant's setting, the request)."""
    return owed(ctx.tenant.ai_disclosure, ctx.endpoint.path, ctx.payload)


class Disclose:
    async def __call__(self, ctx: RequestContext) -> None:
        due = owed_by(ctx)
        if due is not None and due.mode == "system_prompt":
            add_instruction(
                ctx.endpoint.path, ctx.payload, instruction_of(ctx.tenant.ai_disclosure)
            )
