"""How numbers and times look on a page: template filters. German groups thousands with a
dot, English with a comma; times are UTC, written the same in both (ISO-like)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import jinja2

DASH = "\u2013"  # an en dash: no value


@jinja2.pass_context
def num(context: jinja2.runtime.Context, value: float | None) -> str:
    if value is None:
        return DASH
    text = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
    if context.get("lang") == "de":  # 1,234.5 -> 1.234,5
        text = text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
    return text


@jinja2.pass_context
def ms(context: jinja2.runtime.Context, value: float | None) -> str:
    return DASH if value is None else f"{num(context, round(value))} ms"


def when(value: float | None) -> str:
    if value is None:
        return DASH
    return dt.datetime.fromtimestamp(value, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


FILTERS: dict[str, Any] = {"num": num, "ms": ms, "when": when}
