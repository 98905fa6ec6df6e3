"""Every row on every side, with a prompt without personal data: the gateway (no policy, and
gdpr-default) must give what the engine gives directly, ids and timestamps excepted, and only
the differences a row names with their documented reason (``gateway_may_change``) are
allowed, each asserted as documented (``DOCUMENTED``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.compat import ROWS
from tests.compat.compare import assert_same
from tests.compat.conftest import Observe
from tests.compat.matrix import cell
from tests.compat.sides import DIRECT, GDPR, SIDES

pytestmark = pytest.mark.engine

PLAIN = "Name three colours."


def _previous_refused(value: Any) -> None:
    assert value == {"status": 400, "code": "invalid_value", "param": "previous_response_id",
                     "type": "invalid_request_error"}, value  # fmt: skip


# For each key a row may see changed through the gateway: what the documentation says it is.
DOCUMENTED: dict[str, Callable[[Any], None]] = {
    "refusal": _previous_refused,
}


def cells() -> list[Any]:
    return [cell(row, side) for row in ROWS.values() for side in SIDES]


@pytest.mark.parametrize(("name", "side"), list(cells()))
def test_same_as_the_engine(name: str, side: str, observe: Observe) -> None:
    row = ROWS[name]
    got = observe(row, side, PLAIN)
    if side == DIRECT:
        row.check(got)
        return
    direct = observe(row, DIRECT, PLAIN)
    allowed = dict(row.gateway_may_change)
    if side == GDPR:
        allowed |= row.gdpr_may_change
    assert_same(direct, got, ignored=allowed)
    for key in row.gateway_may_change:
        DOCUMENTED[key](got[key])
