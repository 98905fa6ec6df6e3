"""A tenant's usage from the ledger: totals, a time series, and the records as CSV.

``GET /admin/v1/tenants/{id}/usage``: totals over ``[from, to)`` (default: this UTC month so
far) by model, key and status (``?records=true``: the records too). ``.../usage/series``:
per hour or day, optionally per key, model or user (a subject reference, never an identity),
with time-to-first-token percentiles. ``.../usage.csv``: the records, as ``usage export``
writes them.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import orjson
from fastapi import APIRouter, Query
from pydantic import BaseModel
from starlette.responses import Response

from gateway.admin.access import ActorDep
from gateway.admin.deps import ServiceDep
from gateway.admin.insight import Bucket, GroupBy
from gateway.admin.schemas import UsageReport
from gateway.admin.views import UsageSeries
from gateway.openai.body import StrictJsonRoute
from gateway.usage_export import time_range

router = APIRouter(route_class=StrictJsonRoute)
From = Annotated[str | None, Query(alias="from")]
To = Annotated[str | None, Query(alias="to")]


def _range(start: str | None, end: str | None) -> tuple[dt.datetime, dt.datetime]:
    return time_range(start, end, dt.datetime.now(dt.UTC))


def _json(model: BaseModel, exclude: set[str] | None = None) -> Response:
    body = model.model_dump(mode="json", by_alias=True, exclude=exclude)
    return Response(orjson.dumps(body), media_type="application/json")


@router.get("/tenants/{tenant_id}/usage", response_model=UsageReport)
async def usage(
    tenant_id: str,
    actor: ActorDep,
    admin: ServiceDep,
    start: From = None,
    end: To = None,
    records: bool = False,
) -> Response:
    since, until = _range(start, end)
    report = await admin.usage_report(actor, tenant_id, since, until, records)
    return _json(report, exclude=None if records else {"records"})


@router.get("/tenants/{tenant_id}/usage/series", response_model=UsageSeries)
async def usage_series(
    tenant_id: str,
    actor: ActorDep,
    admin: ServiceDep,
    start: From = None,
    end: To = None,
    bucket: Bucket = "day",
    by: GroupBy | None = None,
) -> Response:
    since, until = _range(start, end)
    found = await admin.usage_series(actor, tenant_id, since, until, bucket, by)
    return _json(found)


@router.get("/tenants/{tenant_id}/usage.csv")
async def usage_csv(
    tenant_id: str, actor: ActorDep, admin: ServiceDep, start: From = None, end: To = None
) -> Response:
    since, until = _range(start, end)
    text = await admin.usage_csv(actor, tenant_id, since, until)
    name = f"usage-{tenant_id}-{since:%Y%m%d}-{until:%Y%m%d}.csv"
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )
