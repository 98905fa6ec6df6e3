"""Usage with real records: requests through the gateway, then the page, charts and CSV."""

from __future__ import annotations

import csv
import io
import time

from fastapi.testclient import TestClient

from gateway.console.formats import DASH
from tests.console.conftest import ALICE, sign_in
from tests.console.fake_idp import FakeIdP
from tests.unit.conftest import CHAT, auth, ledger


def _metered(client: TestClient, count: int) -> None:
    for i in range(count):
        body = {**CHAT, "user": f"end-user-{i % 2}"}
        answer = client.post("/v1/chat/completions", json=body, headers=auth())
        assert answer.status_code == 200, answer.text
    time.sleep(0.05)  # metering settles after the answer


def test_usage_page_charts_table_and_csv(client: TestClient, idp: FakeIdP) -> None:
    before = client.get("/console/usage.csv?tenant=acme-de")  # not signed in: to sign-in
    assert before.status_code == 303
    _metered(client, 3)
    sign_in(client, idp, ALICE)
    page = client.get("/console/usage", params={"tenant": "acme-de", "by": "subject"})
    assert page.status_code == 200
    html = page.text
    requests = int(html.split('data-testid="total-requests" data-value="')[1].split('"')[0])
    assert requests >= 3
    for chart in ("chart-tokens", "chart-requests", "chart-ttft"):
        assert f'<svg data-testid="{chart}"' in html
    assert html.count('<rect class="bar"') >= 2  # tokens and requests have a bar each at least
    rows = html.count('data-testid="usage-row"')
    assert rows == 2  # two end users, by reference
    assert "end-user-0" not in html
    assert "end-user-1" not in html
    link = html.split('data-testid="usage-csv"')[0].rsplit('href="', 1)[1].split('"')[0]
    exported = client.get(link.replace("&amp;", "&"))
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert exported.headers["content-disposition"].startswith(
        'attachment; filename="usage-acme-de-'
    )
    table = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(table) == requests
    assert {r["tenant"] for r in table} == {"acme-de"}


def test_ttft_comes_from_streams_only_and_its_empty_chart_says_so(
    client: TestClient, idp: FakeIdP
) -> None:
    _metered(client, 1)  # whole answers: the time to first token is not measured for them
    records = ledger(client)
    assert records
    assert all(r.ttft_ms is None for r in records if not r.stream)
    sign_in(client, idp, ALICE)
    client.headers["accept-language"] = "de"
    html = client.get("/console/usage", params={"tenant": "acme-de"}).text
    assert f'data-testid="total-ttft-p50" data-value="">{DASH}<' in html
    assert 'data-testid="chart-tokens-empty"' not in html  # tokens there are
    empty = html.split('data-testid="chart-ttft-empty">')[1].split("<")[0]
    assert "Keine gestreamten Anfragen" in empty
    assert 'class="legend"' not in html  # no lines, so no legend for them


def test_usage_refuses_a_bad_range(client: TestClient, idp: FakeIdP) -> None:
    sign_in(client, idp, ALICE)
    assert client.get("/console/usage?from=2026-12-05&to=2026-12-01").status_code == 400
    assert client.get("/console/usage?from=yesterday").status_code == 400
    assert client.get("/console/usage?by=password").status_code == 400
    one_day = client.get("/console/usage?tenant=acme-de&from=2026-12-01&to=2026-12-01")
    assert one_day.status_code == 200
    assert 'data-testid="usage-empty"' in one_day.text


def test_policies_show_types_and_counts_never_values(client: TestClient, idp: FakeIdP) -> None:
    secret = "max.mustermann@example.de"
    body = {**CHAT, "messages": [{"role": "user", "content": f"Schreib an {secret} bitte"}]}
    assert client.post("/v1/chat/completions", json=body, headers=auth()).status_code == 200
    time.sleep(0.05)
    sign_in(client, idp, ALICE)
    page = client.get("/console/policies").text
    findings = page.split('data-testid="policy-findings-acme-de">')[1].split("</td>")[0]
    assert "EMAIL_ADDRESS: " in findings
    assert secret not in page
    assert 'data-testid="policy-version-acme-de">' in page
