"""How well the text watermark works on the real CPU engine (issue 17), in one run:

- detection rate on watermarked answers of 200+ tokens (z >= 4), and z of the same prompts
  answered without the watermark;
- false-positive rate on human-written English and German passages
  (``loadtest/watermark_corpus.py``: the machine's manual pages);
- robustness: detection after 10 % of the words are replaced by random words;
- the quality cost: the perplexity the unwatermarked model gives its own answers, with and
  without the watermark (the engine's ``prompt_logprobs``; the paper uses a larger oracle
  model, which this machine does not have).

Two ways to run it:

- ``python -m loadtest.watermark_eval --deltas 1.0,1.5,2.0 --answers 48``: one run that starts
  the local engine (``serving/local_engine.py``) once per strength, with a key made for the
  run, measures it and stops it; prints one JSON summary per strength and a Markdown table
  (BENCHMARKS.md's figures);
- ``python -m loadtest.watermark_eval --engine URL`` against an engine already started with
  the watermark (``SOVEREIGN_WATERMARK_KEY=... python -m serving.local_engine start
  --watermark``), the same key (and strength) in the environment here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import signal
import statistics
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from gateway.provenance.watermark import DEFAULT_THRESHOLD_Z, Detection, detect
from loadtest.local import free_port
from loadtest.watermark_corpus import passages, replace_words
from serving.local_engine import EnginePaths, chat_model, engine_home, start
from serving.watermark_scheme import REQUEST_ARG, WatermarkScheme

TOPICS = (
    "the history of bread", "how bees make honey", "why the sky is blue", "the water cycle",
    "learning a second language", "the first railways", "how vaccines work", "volcanoes",
    "the life of a lighthouse keeper", "saving energy at home", "the rules of chess",
    "a walk through an old city", "how computers store numbers", "growing tomatoes",
    "the invention of printing", "a day at the sea", "why we sleep", "the moon landing",
    "how bridges carry weight", "the history of the bicycle", "coffee", "winter in the Alps",
    "how a bill becomes a law", "recycling plastic",
)  # fmt: skip


def _messages(topic: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Write a detailed essay about {topic}."}]


async def _answer(
    client: httpx.AsyncClient, topic: str, seed: int, marked: bool, tokens: int, temperature: float
) -> str:
    """One answer; the marked and the unmarked answer of a pair share ``seed`` (and topic),
    and every pair has its own, so no two answers of a kind repeat each other."""
    body: dict[str, Any] = {
        "model": "smollm2",
        "messages": _messages(topic),
        "max_tokens": tokens + 30,
        "min_tokens": tokens,
        "temperature": temperature,
        "seed": seed,
    }
    if marked:
        body["vllm_xargs"] = {REQUEST_ARG: 1}
    response = await client.post("/v1/chat/completions", json=body)
    response.raise_for_status()
    text: str = response.json()["choices"][0]["message"]["content"]
    return text


async def _perplexity(client: httpx.AsyncClient, topic: str, answer: str) -> float:
    """exp of the mean negative log-likelihood of the answer's tokens given the prompt, from
    the model without the watermark (prompt logprobs never pass through logits processors)."""
    prompt = _messages(topic)
    head = await client.post(
        "/tokenize", json={"model": "smollm2", "messages": prompt, "add_generation_prompt": True}
    )
    head.raise_for_status()
    start = len(head.json()["tokens"])
    body = {
        "model": "smollm2",
        "messages": [*prompt, {"role": "assistant", "content": answer}],
        "add_generation_prompt": False,
        "continue_final_message": True,
        "max_tokens": 1,
        "prompt_logprobs": 0,
    }
    response = await client.post("/v1/chat/completions", json=body)
    response.raise_for_status()
    steps = response.json()["prompt_logprobs"][start:]
    nll = [-min(entry.values(), key=lambda e: e["rank"])["logprob"] for entry in steps if entry]
    return math.exp(sum(nll) / len(nll))


def _rate(detections: list[Detection]) -> float:
    return sum(d.detected for d in detections) / len(detections) if detections else 0.0


def _z(detections: list[Detection]) -> dict[str, float]:
    zs = [d.z for d in detections]
    return {"mean": statistics.fmean(zs), "min": min(zs), "max": max(zs)}


async def evaluate(
    engine: str, scheme: WatermarkScheme, answers: int, tokens: int, temperature: float
) -> dict[str, Any]:
    topics = [TOPICS[i % len(TOPICS)] for i in range(answers)]
    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(base_url=engine, timeout=900, limits=limits) as client:
        both = await asyncio.gather(
            *(
                _answer(client, t, i, on, tokens, temperature)
                for on in (True, False)
                for i, t in enumerate(topics)
            )
        )
        marked, plain = both[:answers], both[answers:]
        ppl_marked = await asyncio.gather(
            *(_perplexity(client, *p) for p in zip(topics, marked, strict=True))
        )
        ppl_plain = await asyncio.gather(
            *(_perplexity(client, *p) for p in zip(topics, plain, strict=True))
        )
    human = {lang: passages(lang, 250) for lang in ("en", "de")}
    rng = random.Random(3)
    vocabulary = " ".join(human["en"] + human["de"]).split()
    edited = [replace_words(text, 0.10, vocabulary, rng) for text in marked]
    found = {
        "watermarked": [detect(t, scheme) for t in marked],
        "plain": [detect(t, scheme) for t in plain],
        "watermarked_10pct_words_replaced": [detect(t, scheme) for t in edited],
        "human_en": [detect(t, scheme) for t in human["en"]],
        "human_de": [detect(t, scheme) for t in human["de"]],
    }
    # With one key, frequent token pairs of a language are green or not for every text alike,
    # which shifts that language's z (per key); four more keys show how far.
    other_keys = [random.Random(k).randbytes(32) for k in range(4)]
    z_by_key = {
        lang: [
            statistics.fmean(detect(t, replace(scheme, key=key)).z for t in texts)
            for key in [scheme.key, *other_keys]
        ]
        for lang, texts in human.items()
    }
    return {
        "human_mean_z_per_key": z_by_key,
        "scheme": {
            "gamma": scheme.gamma,
            "delta": scheme.delta,
            "context_width": scheme.context_width,
            "threshold_z": DEFAULT_THRESHOLD_Z,
            "temperature": temperature,
            "min_tokens": tokens,
        },
        "detection_rate": {name: _rate(ds) for name, ds in found.items()},
        "texts": {name: len(ds) for name, ds in found.items()},
        "z": {name: _z(ds) for name, ds in found.items()},
        "tokens_scored_mean": {
            name: statistics.fmean(d.tokens_scored for d in ds) for name, ds in found.items()
        },
        "perplexity_median": {
            "watermarked": statistics.median(ppl_marked),
            "plain": statistics.median(ppl_plain),
        },
        "perplexity_quartiles": {
            "watermarked": _quartiles(ppl_marked),
            "plain": _quartiles(ppl_plain),
        },
    }


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _quartiles(values: list[float]) -> list[float]:
    return [round(q, 1) for q in statistics.quantiles(values, n=4)]


def _own_engines(
    deltas: list[float], answers: int, tokens: int, temperature: float
) -> list[dict[str, Any]]:
    """Each strength on a fresh engine of its own (the key made for this run; the engine's
    log in the temporary folder)."""
    paths = EnginePaths(engine_home())
    base = WatermarkScheme(key=os.urandom(32), tokenizer=str(paths.model_dir))
    summaries = []
    for delta in deltas:
        scheme = replace(base, delta=delta)
        log = Path(tempfile.gettempdir()) / f"watermark-eval-engine-{delta}.log"
        engine = start(paths, port=free_port(), model=chat_model(paths, scheme), log_path=log)
        try:
            summaries.append(
                asyncio.run(evaluate(engine.base_url, scheme, answers, tokens, temperature))
            )
        finally:
            engine.stop()
    return summaries


def table(summaries: list[dict[str, Any]]) -> str:
    """BENCHMARKS.md's table: one row per strength."""
    rows = [
        "| delta | detected | z min / mean | 10 % words replaced: detected | z min | "
        "unmarked answers detected | human EN / DE detected | human z max EN / DE | "
        "perplexity marked / unmarked (median) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for s in summaries:
        z = s["z"]

        def count(name: str, s: dict[str, Any] = s) -> str:
            n: int = s["texts"][name]
            return f"{round(s['detection_rate'][name] * n)}/{n}"

        ppl = s["perplexity_median"]
        rows.append(
            f"| {s['scheme']['delta']} | {count('watermarked')} | "
            f"{z['watermarked']['min']:.1f} / {z['watermarked']['mean']:.1f} | "
            f"{count('watermarked_10pct_words_replaced')} | "
            f"{z['watermarked_10pct_words_replaced']['min']:.1f} | {count('plain')} | "
            f"{count('human_en')} / {count('human_de')} | "
            f"{z['human_en']['max']:.2f} / {z['human_de']['max']:.2f} | "
            f"{ppl['watermarked']:.1f} / {ppl['plain']:.1f} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.watermark_eval")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--engine", help="base URL of an engine started with the watermark")
    where.add_argument(
        "--deltas", help="start the local engine once per strength, e.g. 1.0,1.5,2.0"
    )
    parser.add_argument("--answers", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=200, help="at least this many per answer")
    parser.add_argument("--temperature", type=float, default=1.0)
    args = parser.parse_args(argv)
    if args.deltas:
        # A SIGTERM ends the run through its ``finally``: the engine it started stops too.
        signal.signal(signal.SIGTERM, _interrupt)
        deltas = [float(d) for d in args.deltas.split(",")]
        summaries = _own_engines(deltas, args.answers, args.tokens, args.temperature)
    else:
        scheme = WatermarkScheme.from_env()
        if scheme is None:
            parser.error("set SOVEREIGN_WATERMARK_KEY (hex) as the engine's")
        scheme = replace(scheme, tokenizer=str(EnginePaths(engine_home()).model_dir))
        summaries = [
            asyncio.run(
                evaluate(
                    args.engine.rstrip("/"), scheme, args.answers, args.tokens, args.temperature
                )
            )
        ]
    print(json.dumps(summaries, indent=2))
    print(table(summaries))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
