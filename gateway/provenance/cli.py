"""``sovereign-gateway provenance verify``: a token checked against a text, offline; and
``provenance detect``: the text watermark looked for in a text, offline.

The JWKS comes from a file (offline: saved once from the gateway's well-known URL) or a URL;
the verdict is printed as JSON; the exit code is 0 for a valid token, 1 otherwise. Detection
needs the deployment's ``watermark`` section (its key is the secret: only the deployer can run
it offline; everyone else asks the verify endpoint), read from the gateway's configuration
and environment (``SOVEREIGN_WATERMARK__KEY``); exit 0: detected, 1: not.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import Any

import httpx
import orjson

from gateway.provenance.token import verify

DEFAULT_JWKS = "http://127.0.0.1:8080/.well-known/sovereign-provenance/jwks.json"


def register(sub: Any) -> None:
    parser = sub.add_parser("provenance", help="verify provenance tokens of answers")
    commands = parser.add_subparsers(dest="provenance_command", required=True)
    check = commands.add_parser("verify", help="check a token against a text (exit 0: valid)")
    check.add_argument("--text-file", required=True, help="the answer's text ('-': stdin)")
    check.add_argument("--token", required=True, help="the token, or @FILE holding it")
    check.add_argument("--jwks", default=DEFAULT_JWKS, help="a JWKS file, or its URL")
    check.set_defaults(func=_cmd_verify)
    detect = commands.add_parser("detect", help="look for the text watermark (exit 0: found)")
    detect.add_argument("--text-file", required=True, help="the text ('-': stdin)")
    detect.add_argument("--config", type=Path, help="the gateway's YAML (its `watermark`)")
    detect.set_defaults(func=_cmd_detect)


def _read_jwks(where: str) -> dict[str, Any]:
    if where.startswith(("http://", "https://")):
        response = httpx.get(where, timeout=10.0, trust_env=False)
        response.raise_for_status()
        data: Any = response.json()
    else:
        data = orjson.loads(Path(where).read_bytes())
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise SystemExit(f"{where}: not a JWKS (an object with 'keys')")
    return data


def _read_text(where: str) -> str:
    if where == "-":
        return sys.stdin.buffer.read().decode("utf-8")
    return Path(where).read_bytes().decode("utf-8")


def _cmd_detect(args: argparse.Namespace) -> int:
    from gateway.provenance.service import build_detector  # the request path's modules: late
    from gateway.settings import load_settings

    detector = build_detector(load_settings(args.config).watermark)
    if detector is None:
        raise SystemExit("no `watermark` section is configured: nothing to detect with")
    detection = detector(_read_text(args.text_file))
    print(orjson.dumps(dataclasses.asdict(detection), option=orjson.OPT_INDENT_2).decode())
    return 0 if detection.detected else 1


def _cmd_verify(args: argparse.Namespace) -> int:
    text = _read_text(args.text_file)
    token = args.token
    if token.startswith("@"):
        token = Path(token[1:]).read_text().strip()
    verdict = verify(token, text, _read_jwks(args.jwks))
    print(orjson.dumps(verdict.as_json(), option=orjson.OPT_INDENT_2).decode())
    return 0 if verdict.valid else 1
