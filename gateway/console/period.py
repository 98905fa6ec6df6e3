"""The days a page covers: whole UTC days from ``from`` to ``to``, both included (as people
read a date range), which is ``[from, to + 1 day)`` for the service. Pure."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from gateway.errors import InvalidRequest

MAX_DAYS = 366
HOURLY_UP_TO_DAYS = 2  # up to two days: one bar an hour; longer: one a day


@dataclass(frozen=True, slots=True)
class Period:
    first: dt.date
    last: dt.date  # included

    @property
    def since(self) -> dt.datetime:
        return dt.datetime.combine(self.first, dt.time(), dt.UTC)

    @property
    def until(self) -> dt.datetime:
        return dt.datetime.combine(self.last + dt.timedelta(days=1), dt.time(), dt.UTC)

    @property
    def start_text(self) -> str:
        return self.first.isoformat()

    @property
    def end_text(self) -> str:
        return self.last.isoformat()

    @property
    def bucket(self) -> Literal["hour", "day"]:
        return "hour" if (self.last - self.first).days < HOURLY_UP_TO_DAYS else "day"


def _day(text: str, param: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip()[:10])
    except ValueError:
        raise InvalidRequest(f"{param!r} is not a date (YYYY-MM-DD).", param=param) from None


def period_of(start: str | None, end: str | None, now: dt.datetime) -> Period:
    """Default: this UTC month so far."""
    today = now.astimezone(dt.UTC).date()
    last = _day(end, "to") if end else today
    first = _day(start, "from") if start else today.replace(day=1)
    if first > last:
        raise InvalidRequest("'from' must not lie after 'to'.", param="from")
    if (last - first).days >= MAX_DAYS:
        raise InvalidRequest(f"The range is longer than {MAX_DAYS} days.", param="from")
    return Period(first, last)
