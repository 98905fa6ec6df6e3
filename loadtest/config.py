"""The load test's own options: declared here, parsed by Locust, read back as one value.

Kept free of Locust imports (Locust monkey-patches the process with gevent on import), so the
unit tests can check parsing and request building without it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from loadtest.workloads import CHARS_PER_TOKEN, WORKLOADS, ChatRequest, Limits

DEFAULT_WEIGHTS = ",".join(f"{name}=1" for name in WORKLOADS)


@dataclass(frozen=True)
class RunConfig:
    api_key: str
    model: str
    limits: Limits
    weights: dict[str, int]
    seed: int
    think_scale: float
    ignore_eos: bool
    request_timeout_s: float

    @classmethod
    def from_options(cls, options: Any) -> RunConfig:
        """From Locust's ``environment.parsed_options`` (an argparse namespace)."""
        if options.think_scale < 0:
            raise ValueError("--think-scale must be >= 0")
        return cls(
            api_key=options.api_key,
            model=options.model,
            limits=Limits(options.max_context, options.chars_per_token),
            weights=parse_weights(options.weights),
            seed=options.seed,
            think_scale=options.think_scale,
            ignore_eos=not options.no_ignore_eos,
            request_timeout_s=options.request_timeout,
        )


def add_arguments(parser: Any) -> None:
    """Declare the options on Locust's parser (configargparse: each also reads its env var)."""
    # On the parser itself, not a group: only LocustArgumentParser.add_argument knows is_secret.
    parser.add_argument(
        "--api-key",
        default=os.environ.get("SOVEREIGN_API_KEY", ""),
        env_var="LOCUST_API_KEY",
        is_secret=True,
        help="gateway API key (default: $SOVEREIGN_API_KEY)",
    )
    parser.add_argument("--model", default="smollm2", env_var="LOCUST_MODEL", help="model name")
    parser.add_argument(
        "--max-context",
        type=int,
        default=2048,
        env_var="LOCUST_MAX_CONTEXT",
        help="the engines' max-model-len; every prompt + output is fitted below it",
    )
    parser.add_argument(
        "--chars-per-token",
        type=float,
        default=CHARS_PER_TOKEN,
        env_var="LOCUST_CHARS_PER_TOKEN",
        help="characters per token used to size the synthetic prompts",
    )
    parser.add_argument(
        "--weights",
        default=DEFAULT_WEIGHTS,
        env_var="LOCUST_WEIGHTS",
        help="user mix, e.g. contact_centre=4,citizen_chat=4,batch_summary=1 (unlisted: 0)",
    )
    parser.add_argument("--seed", type=int, default=0, env_var="LOCUST_SEED", help="base seed")
    parser.add_argument(
        "--think-scale",
        type=float,
        default=1.0,
        env_var="LOCUST_THINK_SCALE",
        help="multiplies every think time (0: none)",
    )
    parser.add_argument(
        "--no-ignore-eos",
        action="store_true",
        env_var="LOCUST_NO_IGNORE_EOS",
        help="let the model stop at EOS (default: ignore_eos, so outputs have the sampled length)",
    )
    parser.add_argument(
        "--request-timeout",
        type=float,
        default=300.0,
        env_var="LOCUST_REQUEST_TIMEOUT",
        help="seconds of silence before a request is given up",
    )


def parse_weights(text: str) -> dict[str, int]:
    """``"contact_centre=3,batch_summary=1"`` -> a weight for every workload (unlisted: 0)."""
    weights = dict.fromkeys(WORKLOADS, 0)
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in WORKLOADS:
            raise ValueError(f"--weights: {item!r} is not NAME=INT with NAME in {list(WORKLOADS)}")
        weights[name] = int(value)
        if weights[name] < 0:
            raise ValueError(f"--weights: {name} must be >= 0")
    if not any(weights.values()):
        raise ValueError("--weights: at least one workload needs a positive weight")
    return weights


def chat_body(request: ChatRequest, model: str, ignore_eos: bool) -> dict[str, Any]:
    """The ``/v1/chat/completions`` body: streamed, with the usage event at the end."""
    body: dict[str, Any] = {
        "model": model,
        "messages": request.messages,
        "max_tokens": request.max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if ignore_eos:
        # vLLM's extension (passed through by the gateway): the output then has exactly the
        # sampled length, so the load is the one the workload describes, whatever the model.
        body["ignore_eos"] = True
    if request.session_id is not None:
        body["user"] = request.session_id
    return body


def chat_headers(api_key: str, request: ChatRequest) -> dict[str, str]:
    headers = {"accept": "text/event-stream"}
    if api_key:
        headers["authorization"] = f"Bearer {api_key}"
    if request.session_id is not None:
        headers["x-session-id"] = request.session_id
    return headers
