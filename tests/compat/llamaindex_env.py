"""LlamaIndex's OpenAI-compatible LLM in a virtual environment of its own, for the suite.

    python tests/compat/llamaindex_env.py install    # `make install` runs it; idempotent

``llama-index-llms-openai-like`` needs ``llama-index-llms-openai``, whose newest release
requires ``openai<3``, while the gateway's environment has openai 3: so, as
``loadtest/litellm_proxy.py`` does for LiteLLM, it gets a virtual environment outside the
clone (``$SOVEREIGN_LLAMAINDEX_HOME`` or ``~/.cache/sovereign-gateway/llamaindex-<version>``),
and the rows in ``frameworks.py`` run ``llamaindex_runner.py`` with its python. Stdlib only,
and run by path, so that the install step does not import the suite.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

LLAMAINDEX_VERSION = "0.8.1"
# llama-index-llms-openai 0.8.3 (the newest) is the one that requires openai<3: 2.54.0 is
# the newest openai 2; pip picks llama-index-core 0.14 to go with them.
PACKAGES = (
    f"llama-index-llms-openai-like=={LLAMAINDEX_VERSION}",
    "llama-index-llms-openai==0.8.3",
    "openai==2.54.0",
)
READY_MARKER = ".installed"
MISSING = "LlamaIndex's environment is not installed ({python} is missing): run `make install`"


def home() -> Path:
    configured = os.environ.get("SOVEREIGN_LLAMAINDEX_HOME")
    if configured:
        return Path(configured)
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "sovereign-gateway" / f"llamaindex-{LLAMAINDEX_VERSION}"


def python(folder: Path) -> Path:
    return folder / "venv" / "bin" / "python"


def installed(folder: Path) -> Path:
    """The environment's python; fails saying how to install it when it is not installed."""
    marker = folder / READY_MARKER
    ready = marker.is_file() and marker.read_text().split() == list(PACKAGES)
    if not ready or not python(folder).is_file():
        raise RuntimeError(MISSING.format(python=python(folder)))
    return python(folder)


def install(folder: Path) -> Path:
    """Idempotent: an install of these pins is detected by its marker and kept."""
    try:
        return installed(folder)
    except RuntimeError:
        pass
    folder.mkdir(parents=True, exist_ok=True)
    if not python(folder).is_file():
        subprocess.run([sys.executable, "-m", "venv", str(folder / "venv")], check=True)
    pip = [str(python(folder)), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    print(f"installing {' '.join(PACKAGES)} into {folder} (once)", flush=True)
    subprocess.run([*pip, *PACKAGES], check=True)
    (folder / READY_MARKER).write_text("\n".join(PACKAGES) + "\n")
    return python(folder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tests/compat/llamaindex_env.py", description=__doc__)
    parser.add_argument("command", choices=["install", "where"])
    args = parser.parse_args(argv)
    folder = home()
    print(install(folder) if args.command == "install" else python(folder))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
