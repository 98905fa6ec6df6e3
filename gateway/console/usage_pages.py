"""Usage of one tenant over whole days: totals, three charts (tokens, requests, time to first
token p50/p95) as inline SVG, a table by key, model or end user, and the records as CSV.

End users appear only as their subject reference (a keyed hash of the OpenAI ``user`` value
or the subject header), never as the identifier a client sent.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from gateway.admin.insight import GroupBy
from gateway.admin.views import Point
from gateway.console.charts import Chart, bar_chart, line_chart
from gateway.console.period import Period, period_of
from gateway.console.web import AdminDep, ConsoleDep, ConsoleRoute, SessionDep, render
from gateway.errors import InvalidRequest
from gateway.identity.roles import Actor

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
By = Literal["key", "model", "subject"]
_SERVICE_BY: dict[By, GroupBy] = {"key": "key", "model": "model", "subject": "user"}


def _label(point: Point, bucket: str) -> str:
    return point.start.strftime("%d. %H h" if bucket == "hour" else "%m-%d")


def charts(points: list[Point], bucket: str) -> tuple[Chart, Chart, Chart]:
    labels = [_label(p, bucket) for p in points]
    tokens = bar_chart([(label, p.total_tokens) for label, p in zip(labels, points, strict=True)])
    requests = bar_chart([(label, p.requests) for label, p in zip(labels, points, strict=True)])
    ttft = line_chart(
        labels, {"p50": [p.ttft_p50_ms for p in points], "p95": [p.ttft_p95_ms for p in points]}
    )
    return tokens, requests, ttft


def _tenant_of(actor: Actor, visible: list[str], asked: str | None) -> str | None:
    if asked:
        return asked  # the service decides whether this actor may see it
    if actor.tenant is not None and actor.tenant in visible:
        return actor.tenant
    return visible[0] if visible else None


def _by(value: str | None) -> By:
    if value in (None, ""):
        return "model"
    for known in _SERVICE_BY:
        if value == known:
            return known
    raise InvalidRequest("'by' must be key, model or subject.", param="by")


@router.get("/console/usage")
async def usage(
    request: Request,
    console: ConsoleDep,
    session: SessionDep,
    admin: AdminDep,
    tenant: str | None = None,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
    by: str | None = None,
) -> Response:
    actor = session.actor
    period: Period = period_of(start, end, dt.datetime.now(dt.UTC))
    grouped = _by(by)
    visible = [t.id for t in await admin.tenants(actor)]
    chosen = _tenant_of(actor, visible, tenant)
    context: dict[str, object] = {
        "title": "usage.title",
        "section": "usage",
        "tenants": visible,
        "tenant": chosen,
        "start": period.start_text,
        "end": period.end_text,
        "end_shown": period.end_text,
        "by": grouped,
        "series": None,
    }
    if chosen is not None:
        found = await admin.usage_series(
            actor, chosen, period.since, period.until, period.bucket, _SERVICE_BY[grouped]
        )
        tokens, requests, ttft = charts(found.points, period.bucket)
        query = {"tenant": chosen, "from": period.start_text, "to": period.end_text}
        context |= {
            "series": found,
            "tokens_chart": tokens,
            "requests_chart": requests,
            "ttft_chart": ttft,
            "csv_url": "/console/usage.csv?" + urlencode(query),
        }
    return render(request, "usage.html", context)


@router.get("/console/usage.csv")
async def usage_csv(
    console: ConsoleDep,
    session: SessionDep,
    admin: AdminDep,
    tenant: str,
    start: Annotated[str | None, Query(alias="from")] = None,
    end: Annotated[str | None, Query(alias="to")] = None,
) -> Response:
    period = period_of(start, end, dt.datetime.now(dt.UTC))
    text = await admin.usage_csv(session.actor, tenant, period.since, period.until)
    name = f"usage-{tenant}-{period.start_text}-{period.end_text}.csv"
    headers = {"content-disposition": f'attachment; filename="{name}"'}
    return Response(text, media_type="text/csv; charset=utf-8", headers=headers)
