"""What the GDPR policy costs per request: gateways with and without it, side by side.

    python -m loadtest.policy_overhead [--concurrency 1] [--requests 800] [--rounds 4]

Gateways in one run, in front of the same simulated engine (b200/llama-3.1-8b), with the
in-process store, phases alternated so the shared machine's noise falls on all alike:

- **no policy**: ``privacy.default_policy: null`` (the gateway before the policy engine, in
  effect);
- **gdpr-default, plain prompt**: a prompt without personal data: the analysis runs (off the
  event loop), finds nothing; streamed answers pass the answer guard;
- **gdpr-default, personal data**: a contact-centre prompt with a name, an IBAN, a Steuer-ID,
  a phone number and an e-mail address: analysis, five placeholders from the vault, the
  prompt rewritten, the answer restored (and guarded, when streamed).

Reports p50/p99 latency (non-streaming) and TTFT (streaming), what each adds to *no policy*,
and gateway CPU per request.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path

import yaml

from loadtest.local import free_port, wait_http
from loadtest.overhead import MODEL
from loadtest.quota_overhead import ROOT, Side, gateway_config, measure, process, table

PLAIN = "Wie beantrage ich einen Anwohnerparkausweis?"
PERSONAL = (
    "Kundin Annette Brandmeier (Tel. 0171 2345678, a.brandmeier@example.de) bittet um "
    "Änderung ihrer Bankverbindung auf die IBAN DE89 3704 0044 0532 0130 00 und nennt ihre "
    "Steuer-ID 86095742719. Bitte formuliere eine kurze, freundliche Bestätigung."
)


def body(prompt: str, stream: bool, max_tokens: int) -> dict[str, object]:
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "ignore_eos": True,
        "stream": stream,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.policy_overhead", description=__doc__)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--requests", type=int, default=800, help="per gateway and mode")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--out", type=Path, default=Path("loadtest/results/policy_overhead.md"))
    args = parser.parse_args(argv)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOVEREIGN_")}
    engine_port = free_port()
    engine_argv = [
        sys.executable, "-m", "serving.simulator", "--profile", "b200/llama-3.1-8b",
        "--model", MODEL, "--engines", "1", "--base-port", str(engine_port), "--speed", "1.0",
    ]  # fmt: skip
    engine = f"http://127.0.0.1:{engine_port}"
    with tempfile.TemporaryDirectory() as scratch, process(engine_argv, ROOT, env):
        wait_http(engine + "/health")
        ports = [free_port() for _ in range(3)]
        policies: list[str | None] = [None, "gdpr-default", "gdpr-default"]
        paths = []
        for n, (port, policy) in enumerate(zip(ports, policies, strict=True)):
            config = gateway_config(engine, port, f"bench-{n}", None)
            config["privacy"] = {"default_policy": policy}
            path = Path(scratch) / f"gateway-{n}.yaml"
            path.write_text(yaml.safe_dump(config))
            paths.append(path)
        serve = [sys.executable, "-m", "gateway.cli", "serve", "--config"]
        with (
            process([*serve, str(paths[0])], ROOT, env) as off,
            process([*serve, str(paths[1])], ROOT, env) as plain,
            process([*serve, str(paths[2])], ROOT, env) as personal,
        ):
            urls = [f"http://127.0.0.1:{port}" for port in ports]
            for url in urls:
                wait_http(url + "/healthz")
            sides = [
                (Side("no policy", urls[0], off.pid), PERSONAL),
                (Side("gdpr-default, plain prompt", urls[1], plain.pid), PLAIN),
                (Side("gdpr-default, personal data", urls[2], personal.pid), PERSONAL),
            ]
            prompts = {side.name: prompt for side, prompt in sides}

            def body_for(side: Side, stream: bool, tokens: int) -> dict[str, object]:
                return body(prompts[side.name], stream, tokens)

            asyncio.run(measure([side for side, _ in sides], args, body_for))
    title = (
        f"GDPR policy overhead, {args.concurrency} concurrent clients, phases alternated "
        f"{args.rounds}x"
    )
    text = "\n".join(table([side for side, _ in sides], title))
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
