"""Session-wide servers: the real vLLM engine is started once for every test that needs it.

The engine must be installed (``make install``); if it is not, these tests fail with that
message rather than skip: CI must exercise the real engine.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

from serving.local_engine import EnginePaths, chat_model, engine_home, start
from tests.launcher import launch
from tests.servers import TEST_WATERMARK, TIMINGS, EngineUnderTest, embedding_engine, free_port


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineUnderTest]:
    """The real vLLM engine (CPU, SmolLM2-135M-Instruct served as "smollm2"), with the text
    watermark's logits processor loaded (``TEST_WATERMARK``): one engine serves both the
    tests of plain answers (untouched; tests/e2e/test_watermark.py shows it) and those of
    watermarked ones, instead of a second engine start of two minutes or more."""
    # For local iteration only: reuse an engine you already started (saves ~2.5 minutes;
    # start it with --watermark and TEST_WATERMARK's key for the watermark's tests).
    # CI and the README's test command never set it, so they start the real engine here.
    reuse = os.environ.get("SOVEREIGN_TEST_ENGINE_URL")
    if reuse:
        yield EngineUnderTest(reuse.rstrip("/"))
        return
    paths = EnginePaths(engine_home())
    if not paths.installed():
        pytest.fail(f"the vLLM engine is not installed in {paths.home}: run `make install`")
    log = tmp_path_factory.mktemp("engine") / "engine.log"
    try:
        model = chat_model(paths, TEST_WATERMARK)
        running = start(
            paths, port=free_port(), log_path=log, ready_timeout=900, model=model, spawn=launch
        )
    except Exception:
        print(log.read_text()[-5000:], file=sys.stderr)
        raise
    TIMINGS["engine start-up (s)"] = running.startup_seconds
    try:
        yield EngineUnderTest(running.base_url)
    finally:
        running.stop()


@pytest.fixture(scope="session")
def embedder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineUnderTest]:
    """The real embeddings engine (all-MiniLM-L6-v2 as "minilm"), started only when a test
    asks for it, once for every test that does (tests/e2e/test_embeddings.py, tests/compat)."""
    with embedding_engine(tmp_path_factory.mktemp("embedding-engine")) as engine:
        yield engine


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for name, value in TIMINGS.items():
        terminalreporter.write_line(f"{name}: {value:.1f}")
