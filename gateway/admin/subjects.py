"""``POST /admin/v1/subjects/erase``: GDPR Art. 17 erasure of one data subject, from the API.

The subject is the value clients send as the OpenAI ``user`` field or in the subject header.
Everything held about it goes: its audit records' subject and content fields (the hash chain
still verifies), its reference in the usage ledger and the disk spool (the billing counts
stay), its conversations in the pseudonym vault and its lines in the content log. The answer
is the erasure receipt, whose digest is recorded in the audit chain with the acting identity.
DPOs and platform admins only.

Through the API, erasure also reaches what only the running gateway holds (the in-process
stores of an embedded gateway); ``sovereign-gateway audit erase`` reaches the shared ones.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from gateway.admin.access import ActorDep
from gateway.admin.deps import ServiceDep
from gateway.audit.service import ErasureReceipt
from gateway.openai.body import StrictJsonRoute

router = APIRouter(route_class=StrictJsonRoute)


class ErasureRequest(BaseModel):
    subject: str = Field(min_length=1, max_length=512)


@router.post("/subjects/erase")
async def erase_subject(body: ErasureRequest, actor: ActorDep, admin: ServiceDep) -> ErasureReceipt:
    return await admin.erase_subject(actor, body.subject)
