"""``make run``: the local vLLM engine and the gateway in front of it, with a fresh key."""

from __future__ import annotations

from gateway.auth import new_key
from gateway.cli import discover_models, quick_settings, serve
from serving.local_engine import EnginePaths, engine_home, start


def run_local(port: int = 8080, engine_port: int = 8011) -> int:
    paths = EnginePaths(engine_home())
    print(f"starting vLLM (CPU) on 127.0.0.1:{engine_port}; this takes 2 to 3 minutes...")
    engine = start(paths, port=engine_port, log_path=paths.home / "engine.log")
    try:
        print(f"engine ready in {engine.startup_seconds:.0f} s (log: {paths.home / 'engine.log'})")
        key = new_key()
        settings = quick_settings(
            engine.base_url, key, discover_models(engine.base_url), port=port, host="127.0.0.1"
        )
        print(
            "\nSovereign Gateway is up.\n"
            f"  base URL: http://127.0.0.1:{port}/v1\n"
            f"  API key:  {key}\n"
            "  try:     OPENAI_BASE_URL=http://127.0.0.1:"
            f"{port}/v1 OPENAI_API_KEY={key} python examples/chat.py\n"
            "Ctrl-C stops the gateway and the engine.\n",
            flush=True,
        )
        del key  # the gateway keeps only its hash
        serve(settings)
    finally:
        engine.stop()
    return 0
