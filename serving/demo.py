"""``make run`` (``sovereign-gateway run-local``): the local vLLM engine and the gateway in
front of it, with a fresh key. A development command: it reaches the gateway's CLI as a
plugin (the ``sovereign_gateway.commands`` entry points in pyproject.toml), so the gateway
itself never imports this package's dev-only parts."""

from __future__ import annotations

import argparse

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


def register_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser("run-local", help="start the local vLLM engine and the gateway")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--engine-port", type=int, default=8011)

    def run(args: argparse.Namespace) -> int:
        return run_local(port=args.port, engine_port=args.engine_port)

    parser.set_defaults(func=run)
