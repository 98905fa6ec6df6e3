"""The admin API (``/admin/v1``): tenants, keys and usage, behind a separate admin token."""

from gateway.admin.router import router as admin_router

__all__ = ["admin_router"]
