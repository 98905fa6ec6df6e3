"""``sovereign-gateway serve --engine URL --api-key KEY``: what newcomers and benchmarks use."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import openai
import pytest

from tests.e2e.conftest import MODEL
from tests.launcher import launch, stop
from tests.servers import EngineUnderTest, free_port, wait_healthy

pytestmark = pytest.mark.engine
KEY = "sk-quick-mode-key-42"


@pytest.fixture(scope="module")
def quick_gateway(
    engine: EngineUnderTest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    port = free_port()
    log_path = tmp_path_factory.mktemp("quick") / "gateway.log"
    with open(log_path, "wb") as log:
        process: subprocess.Popen[bytes] = launch(
            [
                sys.executable,
                "-m",
                "gateway.cli",
                "serve",
                "--engine",
                engine.base_url,
                "--api-key",
                KEY,
                "--port",
                str(port),
                "--workers",
                "2",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(base_url, process, log_path)
            yield base_url
        finally:
            stop(process, 15)


def test_quick_mode_discovers_the_model_and_answers(quick_gateway: str) -> None:
    client = openai.OpenAI(base_url=quick_gateway + "/v1", api_key=KEY, max_retries=0)
    assert [m.id for m in client.models.list()] == [MODEL]
    for _ in range(3):  # spread over both worker processes
        reply = client.chat.completions.with_raw_response.create(
            model=MODEL, messages=[{"role": "user", "content": "Hallo!"}], max_tokens=8
        )
        assert reply.parse().choices[0].message.content
        assert reply.headers["x-sovereign-jurisdiction"] == "DE"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=quick_gateway + "/v1", api_key="wrong", max_retries=0).models.list()
