"""The rows of the compatibility matrix: each is client code written once, run on every side.

A row is a function ``run(side, prompt) -> observation`` registered with ``@row(...)``. The
observation is what the client saw, as plain JSON values (``observe`` turns SDK objects into
them). ``tests/compat/test_matrix.py`` runs every row on every side and compares each gateway
side with the direct one (``compare.assert_same``); a row with ``personal_data=True`` also
runs in ``test_personal_data.py`` with a prompt that names a person and an IBAN.

Adding a row (the Batches row, say) is one decorated function in one of the client modules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.compat.sides import Side

Observation = dict[str, Any]
Run = Callable[[Side, str], Observation]
# What a row's direct observation must show, so that equality is not between two empty answers.
Check = Callable[[Observation], None]


@dataclass(frozen=True)
class Row:
    name: str
    client: str
    run: Run
    check: Check
    # Observation keys that gdpr-default may change, each with the documented policy action
    # that explains it (README, "GDPR policy engine"); everything else must be equal.
    gdpr_may_change: dict[str, str] = field(default_factory=dict)
    # Keys that differ through the gateway whatever the policy, with the documented reason.
    gateway_may_change: dict[str, str] = field(default_factory=dict)
    # side -> reason: a known gateway difference owned by other work (pytest xfail, strict).
    xfail: dict[str, str] = field(default_factory=dict)
    personal_data: bool = False


ROWS: dict[str, Row] = {}


def row(
    name: str,
    client: str,
    *,
    check: Check,
    gdpr_may_change: dict[str, str] | None = None,
    gateway_may_change: dict[str, str] | None = None,
    xfail: dict[str, str] | None = None,
    personal_data: bool = False,
) -> Callable[[Run], Run]:
    def register(run: Run) -> Run:
        assert name not in ROWS, f"two rows named {name!r}"
        ROWS[name] = Row(
            name,
            client,
            run,
            check,
            gdpr_may_change or {},
            gateway_may_change or {},
            xfail or {},
            personal_data,
        )
        return run

    return register


def cell(row: Row, side: str) -> Any:
    """One test case of the matrix, marked xfail (strict) where the row says so."""
    marks = [pytest.mark.xfail(strict=True, reason=row.xfail[side])] if side in row.xfail else []
    return pytest.param(row.name, side, id=f"{row.name} | {side}", marks=marks)
