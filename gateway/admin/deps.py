"""The admin routes' dependencies: the acting identity and the service it acts through."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gateway.admin.access import ActorDep
from gateway.admin.service import AdminService


async def admin_service(request: Request, _: ActorDep) -> AdminService:
    """The service over this app's resources (after the credential was checked)."""
    return AdminService(request.state.resources, getattr(request.state, "batches", None))


ServiceDep = Annotated[AdminService, Depends(admin_service)]
