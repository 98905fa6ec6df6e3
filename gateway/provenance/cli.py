"""``sovereign-gateway provenance verify``: a token checked against a text, offline.

The JWKS comes from a file (offline: saved once from the gateway's well-known URL) or a URL;
the verdict is printed as JSON; the exit code is 0 for a valid token, 1 otherwise.
"""

from __future__ import annotations

import argparse
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


def _cmd_verify(args: argparse.Namespace) -> int:
    if args.text_file == "-":
        text = sys.stdin.buffer.read().decode("utf-8")
    else:
        text = Path(args.text_file).read_bytes().decode("utf-8")
    token = args.token
    if token.startswith("@"):
        token = Path(token[1:]).read_text().strip()
    verdict = verify(token, text, _read_jwks(args.jwks))
    print(orjson.dumps(verdict.as_json(), option=orjson.OPT_INDENT_2).decode())
    return 0 if verdict.valid else 1
