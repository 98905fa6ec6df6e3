"""LiteLLM's proxy for the side-by-side benchmark, in a virtual environment of its own.

    python -m loadtest.litellm_proxy install     # once; lean_overhead does it on first use

LiteLLM is never a dependency of the gateway: it gets its own virtual environment outside
the clone (``$SOVEREIGN_LITELLM_HOME`` or ``~/.cache/sovereign-gateway/litellm-1.108``), as
``serving/local_engine.py`` does for vLLM, and runs as a separate process. Its configuration
is minimal: one model per name of the benchmark's engine, as an OpenAI-compatible backend;
a master key (so it authenticates, as the gateway does) but no database; no callbacks, no
telemetry, the model cost map from the package (no download), and uvicorn's access log
silenced (the gateway's JSON request log stays on: that favours LiteLLM, if anything).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

# 1.108.8 to 1.108.14 pin post-releases in their [proxy] extra (litellm-enterprise
# 0.1.79.post2, litellm-proxy-extras 0.4.110.post1) that the package registry here does not
# have: 1.108.7 is the newest 1.108 release that installs.
LITELLM_VERSION = "1.108.7"
READY_MARKER = ".installed"
_QUIET_LOGS = {
    "version": 1,
    "disable_existing_loggers": False,
    "loggers": {
        "uvicorn.access": {"level": "WARNING"},
        "uvicorn.error": {"level": "WARNING"},
        "LiteLLM": {"level": "ERROR"},
        "LiteLLM Proxy": {"level": "ERROR"},
        "LiteLLM Router": {"level": "ERROR"},
    },
}


def home() -> Path:
    configured = os.environ.get("SOVEREIGN_LITELLM_HOME")
    if configured:
        return Path(configured)
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "sovereign-gateway" / "litellm-1.108"


def python(folder: Path) -> Path:
    return folder / "venv" / "bin" / "python"


def install(folder: Path) -> Path:
    """Idempotent: an install of this version is detected by its marker and kept."""
    marker = folder / READY_MARKER
    if marker.is_file() and marker.read_text().strip() == LITELLM_VERSION:
        return python(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if not python(folder).is_file():
        subprocess.run([sys.executable, "-m", "venv", str(folder / "venv")], check=True)
    pip = [str(python(folder)), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    print(f"installing litellm[proxy]=={LITELLM_VERSION} into {folder} (once)", flush=True)
    subprocess.run([*pip, f"litellm[proxy]=={LITELLM_VERSION}"], check=True)
    marker.write_text(LITELLM_VERSION + "\n")
    return python(folder)


def config(engine: str, models: list[str], key: str) -> dict[str, Any]:
    return {
        "model_list": [
            {"model_name": model,
             "litellm_params": {"model": f"openai/{model}", "api_base": engine + "/v1",
                                "api_key": "none"}}
            for model in models
        ],
        "litellm_settings": {"telemetry": False, "callbacks": [], "success_callback": [],
                             "failure_callback": [], "drop_params": True},
        "general_settings": {"master_key": key},
    }  # fmt: skip


def command(
    folder: Path, scratch: Path, engine: str, models: list[str], key: str, port: int
) -> list[str]:
    """The proxy's command line, its config and log config written into ``scratch``."""
    config_path = scratch / "litellm.yaml"
    config_path.write_text(yaml.safe_dump(config(engine, models, key)))
    logs_path = scratch / "litellm-logging.json"
    logs_path.write_text(json.dumps(_QUIET_LOGS))
    proxy = folder / "venv" / "bin" / "litellm"
    return [str(python(folder)), str(proxy), "--config", str(config_path), "--host", "127.0.0.1",
            "--port", str(port), "--num_workers", "1", "--telemetry", "False",
            "--log_config", str(logs_path)]  # fmt: skip


def environment(base: dict[str, str]) -> dict[str, str]:
    """No download at start-up (the cost map), no usage reporting, quiet logs."""
    return {
        **base,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_LOG": "ERROR",
        "LITELLM_TELEMETRY": "False",
        "DO_NOT_TRACK": "1",
        "DISABLE_ADMIN_UI": "True",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.litellm_proxy", description=__doc__)
    parser.add_argument("command", choices=["install", "where"])
    args = parser.parse_args(argv)
    folder = home()
    if args.command == "install":
        install(folder)
    print(python(folder))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
