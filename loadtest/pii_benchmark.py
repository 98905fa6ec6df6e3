"""PII detection benchmark: our analyzer against stock Presidio on the labelled evaluation set.

    python -m loadtest.pii_benchmark [--quick] [--json PATH] [--examples]
                                     [--dataset {dev,holdout,adversarial,both,all}]

Data: two labelled sets of German and English contact-centre and public-sector texts, gold
entities and hard negatives. ``dev`` (``tests/pii_eval/dataset.jsonl``, see
``tests/pii_eval/generate.py``) is the set the recognizers were tuned on, so its scores are
optimistic; ``holdout`` (``tests/pii_eval/holdout.jsonl``, see ``generate_holdout.py``) was
written blind to the recognizers, with other sentences and other people, and is the honest
measurement. ``adversarial`` (``tests/pii_eval/adversarial.jsonl``, see
``generate_adversarial.py``) writes values with the tricks that hide them from patterns
(zero-width characters, soft hyphens, full-width forms, look-alike letters, dashes and Unicode
spaces between groups, base64, several at once, a value split across two messages) and hard
negatives written the same way; it is scored per category (``adversarial_lines``). ``both``
scores dev and holdout, ``all`` (the default) all three, one after the other in the same run.
Both analyzers run in this process on the same texts, alternating text by text after a
warm-up, so a noisy shared machine slows both alike.

Matching: a prediction matches a gold entity of the same type if it covers at least 50 % of
the gold span (boundaries differ between recognizers: "Herr Müller" for "Müller", an IBAN
without its last group). Recall counts gold entities matched, precision counts predictions
that match a gold entity; "exact" counts gold entities found with exact boundaries. A
prediction of any type overlapping a look-alike makes that look-alike a false positive.

Stock Presidio (``policies.analyzer.stock_presidio``) analyses each text in the text's
language, its entity names mapped through ``stock_entity_map()``; predictions of types we do
not have (DATE_TIME, URL, US_SSN, ...) are dropped. It is scored at threshold 0 (its default)
and at our 0.5, and the comparison uses the better micro F1 of the two. Types it cannot
detect show "-". Latency: ~50 prompts of ~1,000 characters cut from joined dataset texts,
each analysed many times by ours; p50/p99 over all calls.

Exits non-zero, listing the missed targets, unless on every set scored: recall >= 0.99 on the
check-digit identifiers (micro), >= 0.95 on phone numbers and on e-mail addresses, false
positives on look-alikes <= 1 %, p99 <= 5 ms at 1,000 characters, our throughput >= 5x stock,
and our micro F1 >= stock's on the types stock supports; on the adversarial set: recall
>= 0.95 in every category but ``split_messages`` (measured, no target), false positives on
its look-alikes <= 1 %, p99 <= 5 ms on 1,000-character prompts cut from its texts.

JSON (``--json``): the dev set's results at the top level (as before there were two sets), the
held-out set's under ``"holdout"``, the adversarial set's under ``"adversarial"``.
"""

from __future__ import annotations

from policies import offline  # noqa: F401  (must run before presidio is imported)

# isort: split
import argparse
import gc
import json
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from loadtest.pii_hidden import HIDDEN, extracted
from policies import encoded
from policies import entities as E
from policies.analyzer import build_analyzer, stock_entity_map, stock_presidio
from policies.normalize import normalize

EVAL_DIR = Path(__file__).resolve().parents[1] / "tests" / "pii_eval"
DATASET = EVAL_DIR / "dataset.jsonl"
DATASETS = {"dev": DATASET, "holdout": EVAL_DIR / "holdout.jsonl"}
ADVERSARIAL = EVAL_DIR / "adversarial.jsonl"
MIN_COVER = 0.5
PROMPT_CHARS = 1_000
N_PROMPTS = 50


@dataclass(frozen=True, slots=True)
class Labelled:
    start: int
    end: int
    label: str  # entity type (gold, prediction) or look-alike kind
    score: float = 1.0


@dataclass(frozen=True, slots=True)
class Sample:
    id: str
    lang: str
    text: str
    gold: tuple[Labelled, ...]
    lookalikes: tuple[Labelled, ...]


def load(path: Path = DATASET) -> list[Sample]:
    samples = []
    for line in path.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        gold = tuple(Labelled(e["start"], e["end"], e["type"]) for e in r["entities"])
        looks = tuple(Labelled(x["start"], x["end"], x["kind"]) for x in r["lookalikes"])
        samples.append(Sample(r["id"], r["lang"], r["text"], gold, looks))
    return samples


def matches(pred: Labelled, gold: Labelled) -> bool:
    overlap = min(pred.end, gold.end) - max(pred.start, gold.start)
    return pred.label == gold.label and overlap >= MIN_COVER * (gold.end - gold.start)


def overlaps(a: Labelled, b: Labelled) -> bool:
    return a.start < b.end and b.start < a.end


# ---- scoring ------------------------------------------------------------------------------------
@dataclass
class Counts:
    support: int = 0
    found: int = 0  # gold matched
    exact: int = 0  # gold matched with exact boundaries
    predicted: int = 0
    correct: int = 0  # predictions matching a gold entity

    def add(self, other: Counts) -> None:
        self.support += other.support
        self.found += other.found
        self.exact += other.exact
        self.predicted += other.predicted
        self.correct += other.correct

    # Nothing predicted (or nothing to find) scores 0, as scikit-learn's zero_division=0.
    @property
    def precision(self) -> float:
        return self.correct / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.found / self.support if self.support else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclass
class Score:
    per_type: dict[str, Counts] = field(default_factory=dict)
    lookalikes: int = 0
    lookalike_hits: int = 0
    misses: dict[str, list[str]] = field(default_factory=dict)
    false_positives: dict[str, list[str]] = field(default_factory=dict)

    def micro(self, types: Iterable[str]) -> Counts:
        total = Counts()
        for t in types:
            total.add(self.per_type.get(t, Counts()))
        return total

    @property
    def lookalike_rate(self) -> float:
        return self.lookalike_hits / self.lookalikes if self.lookalikes else 0.0


def _snippet(text: str, span: Labelled, note: str) -> str:
    left, right = text[max(0, span.start - 30) : span.start], text[span.end : span.end + 30]
    shown = f"{left}[{text[span.start : span.end]}]{right}".replace("\n", " ")
    return f"{note}: ...{shown}..."


def score(samples: Sequence[Sample], predictions: Sequence[Sequence[Labelled]]) -> Score:
    result = Score()
    for sample, preds in zip(samples, predictions, strict=True):
        for g in sample.gold:
            c = result.per_type.setdefault(g.label, Counts())
            c.support += 1
            hit = [p for p in preds if matches(p, g)]
            c.found += bool(hit)
            c.exact += any((p.start, p.end) == (g.start, g.end) for p in hit)
            if not hit:
                seen = ",".join(p.label for p in preds if overlaps(p, g)) or "nothing"
                note = f"{sample.id} found {seen}"
                result.misses.setdefault(g.label, []).append(_snippet(sample.text, g, note))
        for p in preds:
            c = result.per_type.setdefault(p.label, Counts())
            c.predicted += 1
            if any(matches(p, g) for g in sample.gold):
                c.correct += 1
                continue
            near = [x.label for x in (*sample.gold, *sample.lookalikes) if overlaps(p, x)]
            note = f"{sample.id} score {p.score:.2f} on {','.join(near) or 'unlabelled text'}"
            result.false_positives.setdefault(p.label, []).append(_snippet(sample.text, p, note))
        result.lookalikes += len(sample.lookalikes)
        result.lookalike_hits += sum(any(overlaps(p, x) for p in preds) for x in sample.lookalikes)
    return result


# ---- running ------------------------------------------------------------------------------------
Detector = Callable[[Sample], list[Labelled]]


def our_detector(analyze: Callable[[str], Iterable[Any]]) -> Detector:
    """Wrap ``Analyzer.analyze`` (spans with start, end, entity, score)."""

    def detect(sample: Sample) -> list[Labelled]:
        return [Labelled(s.start, s.end, s.entity, s.score) for s in analyze(sample.text)]

    return detect


def stock_detector() -> tuple[Detector, frozenset[str]]:
    """Stock Presidio at threshold 0 (its default) and the types it can report."""
    engine, names = stock_presidio(), stock_entity_map()
    supported = set().union(*(engine.get_supported_entities(lang) for lang in ("en", "de")))
    types = frozenset(ours for stock, ours in names.items() if stock in supported)

    def detect(sample: Sample) -> list[Labelled]:
        results = engine.analyze(sample.text, language=sample.lang)
        return [
            Labelled(r.start, r.end, names[r.entity_type], r.score)
            for r in results
            if r.entity_type in names
        ]

    return detect, types


@dataclass
class Timed:
    predictions: list[list[Labelled]]
    seconds: float


def run_alternating(
    samples: Sequence[Sample], detectors: Sequence[Detector], passes: int
) -> list[Timed]:
    """Every detector on every text, text by text, ``passes`` times; predictions of the last."""
    for sample in samples[:20]:  # warm-up: first-use compilation, caches
        for detect in detectors:
            detect(sample)
    timed = [Timed([], 0.0) for _ in detectors]
    for n in range(passes):
        for sample in samples:
            for detect, t in zip(detectors, timed, strict=True):
                started = time.perf_counter()
                found = detect(sample)
                t.seconds += time.perf_counter() - started
                if n == passes - 1:
                    t.predictions.append(found)
    return timed


def prompts(samples: Sequence[Sample], n: int = N_PROMPTS, size: int = PROMPT_CHARS) -> list[str]:
    """``n`` prompts of about ``size`` characters: dataset texts joined, cut at a space."""
    texts = [s.text for s in samples]
    out: list[str] = []
    i = 0
    while len(out) < n:
        joined = ""
        while len(joined) < size:
            joined += texts[i % len(texts)] + "\n\n"
            i += 1
        out.append(joined[: joined.rfind(" ", 0, size)])
    return out


def latencies_ms(detect: Callable[[str], object], texts: Sequence[str], reps: int) -> list[float]:
    gc.collect()
    samples = []
    for _ in range(reps):
        for text in texts:
            started = time.perf_counter_ns()
            detect(text)
            samples.append((time.perf_counter_ns() - started) / 1e6)
    return samples


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# ---- report -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    name: str
    value: float
    target: float
    higher_is_better: bool = True

    @property
    def ok(self) -> bool:
        return self.value >= self.target if self.higher_is_better else self.value <= self.target


def stock_at(predictions: list[list[Labelled]], threshold: float) -> list[list[Labelled]]:
    return [[p for p in preds if p.score >= threshold] for preds in predictions]


def _cells(c: Counts | None) -> str:
    if c is None:
        return f"{'-':>6} {'-':>6} {'-':>6} {'-':>6}"
    return f"{c.precision:6.3f} {c.recall:6.3f} {c.f1:6.3f} {c.exact:6d}"


def table(ours: Score, stock: Score, stock_types: frozenset[str]) -> list[str]:
    """One row per entity type, then micro averages; stock shows "-" where it has no detector."""
    head = f"{'type':30} {'support':>7} | {'ours P':>6} {'R':>6} {'F1':>6} {'exact':>6} |"
    rule = "-" * (len(head) + 28)
    lines = [head + f" {'stock P':>7} {'R':>6} {'F1':>6} {'exact':>6}", rule]
    for t in sorted(E.ALL):
        theirs = stock.micro([t]) if t in stock_types else None
        lines.append(_row(t, ours.micro([t]), theirs))
    lines.append(rule)
    lines.append(_row("micro, all types", ours.micro(E.ALL), None))
    lines.append(_row("micro, check-digit ids", ours.micro(E.CHECK_DIGIT_IDS), None))
    both = ours.micro(stock_types), stock.micro(stock_types)
    lines.append(_row("micro, types stock supports", *both))
    no_person = stock_types - {E.PERSON}
    lines.append(_row("  the same without PERSON", ours.micro(no_person), stock.micro(no_person)))
    return lines


def _row(name: str, ours: Counts, stock: Counts | None) -> str:
    return f"{name:30} {ours.support:7d} | {_cells(ours)} | {_cells(stock)}"


def targets(ours: Score, f1_gain: float, ratio: float, p99: float) -> list[Target]:
    return [
        Target("recall, check-digit ids (micro)", ours.micro(E.CHECK_DIGIT_IDS).recall, 0.99),
        Target("recall, PHONE_NUMBER", ours.micro([E.PHONE_NUMBER]).recall, 0.95),
        Target("recall, EMAIL_ADDRESS", ours.micro([E.EMAIL_ADDRESS]).recall, 0.95),
        Target("false positives on look-alikes", ours.lookalike_rate, 0.01, False),
        Target("p99 ms, 1,000-character prompt", p99, 5.0, False),
        Target("throughput, ours / stock", ratio, 5.0),
        Target("micro F1 on stock's types, ours - stock", f1_gain, 0.0),
    ]


def examples(score: Score, limit: int = 10) -> list[str]:
    lines = []
    for t in sorted(set(score.misses) | set(score.false_positives)):
        misses, fps = score.misses.get(t, []), score.false_positives.get(t, [])
        lines.append(f"{t}: {len(misses)} missed, {len(fps)} false positives")
        lines += [f"  miss  {m}" for m in misses[:limit]]
        lines += [f"  FP    {f}" for f in fps[:limit]]
    return lines


def _counts_json(c: Counts) -> dict[str, float]:
    return {"support": c.support, "found": c.found, "exact": c.exact, "predicted": c.predicted,
            "correct": c.correct, "precision": round(c.precision, 4),
            "recall": round(c.recall, 4), "f1": round(c.f1, 4)}  # fmt: skip


@dataclass
class Results:
    name: str
    samples: list[Sample]
    ours: Score
    stock: Score
    stock_types: frozenset[str]
    stock_threshold: float
    passes: int
    speed: dict[str, dict[str, float]]
    ratio: float
    timings_ms: list[float]
    reps: int
    prep_ms: list[float] = field(default_factory=list)  # normalisation + base64 search only

    @property
    def p50(self) -> float:
        return percentile(self.timings_ms, 0.5)

    @property
    def p99(self) -> float:
        return percentile(self.timings_ms, 0.99)

    @property
    def targets(self) -> list[Target]:
        stock_types = self.stock_types
        gain = self.ours.micro(stock_types).f1 - self.stock.micro(stock_types).f1
        return targets(self.ours, gain, self.ratio, self.p99)


@dataclass(frozen=True)
class Engines:
    """Both analyzers, built once per run and shared by the data sets."""

    analyze: Callable[[str], Iterable[Any]]
    stock: Detector
    stock_types: frozenset[str]

    @classmethod
    def build(cls) -> Engines:
        stock, types = stock_detector()
        return cls(build_analyzer().analyze, stock, types)


def measure(quick: bool, name: str = "dev", engines: Engines | None = None) -> Results:
    """Score both analyzers on one data set, time them alternating, time ours on prompts."""
    samples = load(DATASETS[name])
    engines = engines or Engines.build()
    stock_detect, stock_types = engines.stock, engines.stock_types
    passes, reps = (2, 50) if quick else (3, 200)
    ours_run, stock_run = run_alternating(
        samples, (our_detector(engines.analyze), stock_detect), passes
    )
    by_threshold = {t: score(samples, stock_at(stock_run.predictions, t)) for t in (0.0, 0.5)}
    threshold = max(by_threshold, key=lambda t: by_threshold[t].micro(stock_types).f1)
    texts, chars = len(samples) * passes, sum(len(s.text) for s in samples) * passes
    speed = {
        name: {"texts_per_s": texts / run.seconds, "chars_per_s": chars / run.seconds}
        for name, run in (("ours", ours_run), ("stock", stock_run))
    }
    return Results(
        name=name,
        samples=samples,
        ours=score(samples, ours_run.predictions),
        stock=by_threshold[threshold],
        stock_types=stock_types,
        stock_threshold=threshold,
        passes=passes,
        speed=speed,
        ratio=stock_run.seconds / ours_run.seconds,
        timings_ms=latencies_ms(engines.analyze, prompts(samples), reps),
        reps=reps,
        prep_ms=latencies_ms(prepare, prompts(samples), reps),
    )


def prepare(text: str) -> object:
    """What ``Analyzer.analyze`` adds before the recognizers: normalisation and the base64
    search (an upper bound: ``analyze`` skips runs inside spans found already)."""
    return encoded.blobs(normalize(text).text)


def _speed(s: dict[str, float]) -> str:
    return f"{s['texts_per_s']:,.0f} texts/s, {s['chars_per_s']:,.0f} chars/s"


def _prep(prep_ms: Sequence[float]) -> str:
    p50, p99 = percentile(prep_ms, 0.5) * 1e3, percentile(prep_ms, 0.99) * 1e3
    return f"of which normalisation + base64 search: p50 {p50:.0f} us, p99 {p99:.0f} us"


def report_lines(res: Results) -> list[str]:
    ours, stock = res.ours, res.stock
    langs = [sum(s.lang == lang for s in res.samples) for lang in ("de", "en")]
    gold = sum(len(s.gold) for s in res.samples)
    return [
        f"PII benchmark, {res.name} set ({DATASETS[res.name].name}): {len(res.samples)} texts "
        f"({langs[0]} de, {langs[1]} en), {gold} gold entities, {ours.lookalikes} look-alikes; "
        "a match: same type, >= 50 % of the gold span",
        f"stock Presidio scored at threshold {res.stock_threshold} (the better of 0.0 and 0.5)",
        "",
        *table(ours, stock, res.stock_types),
        "",
        f"look-alikes hit: ours {ours.lookalike_hits}/{ours.lookalikes} "
        f"({ours.lookalike_rate:.2%}), stock {stock.lookalike_hits}/{stock.lookalikes} "
        f"({stock.lookalike_rate:.2%})",
        f"throughput ({res.passes} pass(es), alternating): ours {_speed(res.speed['ours'])}; "
        f"stock {_speed(res.speed['stock'])}; ours {res.ratio:.1f}x stock",
        f"latency, ours, {N_PROMPTS} prompts of ~{PROMPT_CHARS:,} chars x {res.reps} runs: "
        f"p50 {res.p50:.2f} ms, p99 {res.p99:.2f} ms, max {max(res.timings_ms):.2f} ms; "
        f"{_prep(res.prep_ms)}",
        "",
        "targets:",
        *(
            f"  [{'ok' if g.ok else 'MISSED'}] {g.name}: {g.value:.4g} "
            f"({'>=' if g.higher_is_better else '<='} {g.target:g})"
            for g in res.targets
        ),
    ]


def report_json(res: Results) -> dict[str, Any]:
    ours, stock, types = res.ours, res.stock, res.stock_types
    return {
        "dataset": {
            "name": res.name,
            "file": DATASETS[res.name].name,
            "texts": len(res.samples),
            "gold": sum(len(s.gold) for s in res.samples),
        },
        "stock_threshold": res.stock_threshold,
        "per_type": {
            t: {
                "ours": _counts_json(ours.micro([t])),
                "stock": _counts_json(stock.micro([t])) if t in types else None,
            }
            for t in sorted(E.ALL)
        },
        "micro": {
            "ours_all": _counts_json(ours.micro(E.ALL)),
            "ours_check_digit_ids": _counts_json(ours.micro(E.CHECK_DIGIT_IDS)),
            "ours_stock_types": _counts_json(ours.micro(types)),
            "stock_stock_types": _counts_json(stock.micro(types)),
        },
        "lookalikes": {
            "total": ours.lookalikes,
            "ours_rate": ours.lookalike_rate,
            "stock_rate": stock.lookalike_rate,
        },
        "throughput": {**res.speed, "ratio": res.ratio},
        "latency_ms": {
            "p50": res.p50,
            "p99": res.p99,
            "prompts": N_PROMPTS,
            "runs": res.reps,
            "prep_p50": percentile(res.prep_ms, 0.5),
            "prep_p99": percentile(res.prep_ms, 0.99),
        },
        "targets": [asdict(g) | {"ok": g.ok} for g in res.targets],
        "table": table(ours, stock, types),
        "examples": {"misses": ours.misses, "false_positives": ours.false_positives},
    }


# ---- the adversarial set ------------------------------------------------------------------------
SPLIT = "split_messages"  # measured only: the gateway analyses each message on its own
HIDDEN_FIELD = "hidden_field"  # scored through the gateway's request-field extraction


@dataclass(frozen=True, slots=True)
class Case:
    """One adversarial case: one text, or several (a value split across messages)."""

    id: str
    category: str
    pieces: tuple[Sample, ...]


def load_cases(path: Path = ADVERSARIAL) -> list[Case]:
    """The cases of ``path``; a ``hidden_field`` case's text is what the gateway's request-field
    extraction hands the analyzer (``loadtest/pii_hidden.py``)."""
    cases = []
    for line in path.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        hidden = r["category"] == HIDDEN_FIELD
        pieces = tuple(
            Sample(
                f"{r['id']}/{n}",
                r["lang"],
                extracted(m["field"], m["text"]) if hidden else m["text"],
                tuple(Labelled(e["start"], e["end"], e["type"]) for e in m["entities"]),
                tuple(Labelled(x["start"], x["end"], x["kind"]) for x in m["lookalikes"]),
            )
            for n, m in enumerate(r["messages"])
        )
        cases.append(Case(r["id"], r["category"], pieces))
    return cases


def covered(preds: Sequence[Labelled], gold: Labelled) -> bool:
    """A prediction of any type covers >= 50 % of ``gold``: its characters would be rewritten."""
    return any(
        min(p.end, gold.end) - max(p.start, gold.start) >= MIN_COVER * (gold.end - gold.start)
        for p in preds
    )


@dataclass
class CategoryScore:
    """Recall and look-alike hits of one detector in one category."""

    support: int = 0
    found: int = 0
    lookalikes: int = 0
    hits: int = 0
    misses: list[str] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.found / self.support if self.support else 0.0


def score_case(case: Case, predictions: Sequence[Sequence[Labelled]], into: CategoryScore) -> None:
    """Entities count one by one (same type, >= 50 %); a split value counts once, found only if
    every message holding a fragment of it has that fragment covered (any type, >= 50 %): a
    masked half still leaves the other half in clear, and a fragment ("DE89 3704") validates as
    nothing, so its type cannot be asked for."""
    pairs = list(zip(case.pieces, predictions, strict=True))
    if case.category == SPLIT:
        fragments = [(piece, preds, g) for piece, preds in pairs for g in piece.gold]
        if fragments:
            into.support += 1
            hit = all(covered(preds, g) for _, preds, g in fragments)
            into.found += hit
            if not hit:
                into.misses.append(f"{case.id}: " + " | ".join(p.text for p, _ in pairs))
    else:
        for piece, preds in pairs:
            for g in piece.gold:
                into.support += 1
                if any(matches(p, g) for p in preds):
                    into.found += 1
                else:
                    seen = ",".join(p.label for p in preds if overlaps(p, g)) or "nothing"
                    into.misses.append(_snippet(piece.text, g, f"{case.id} found {seen}"))
    for piece, preds in pairs:
        into.lookalikes += len(piece.lookalikes)
        into.hits += sum(any(overlaps(p, x) for p in preds) for x in piece.lookalikes)


@dataclass
class Adversarial:
    cases: list[Case]
    ours: dict[str, CategoryScore]
    stock: dict[str, CategoryScore]
    timings_ms: list[float]
    prep_ms: list[float]
    reps: int

    def total(self, scores: dict[str, CategoryScore], *, split: bool = False) -> CategoryScore:
        total = CategoryScore()
        for category, c in scores.items():
            if (category == SPLIT) == split:
                total.support += c.support
                total.found += c.found
        total.lookalikes = sum(c.lookalikes for c in scores.values())
        total.hits = sum(c.hits for c in scores.values())
        return total

    @property
    def targets(self) -> list[Target]:
        held = [c for c in self.ours.values() if c is not self.ours.get(SPLIT)]
        worst = min((c.recall for c in held), default=0.0)
        overall = self.total(self.ours)
        fp = overall.hits / overall.lookalikes if overall.lookalikes else 0.0
        return [
            Target(f"adversarial recall, lowest category but {SPLIT}", worst, 0.95),
            Target("adversarial false positives on look-alikes", fp, 0.01, False),
            Target(
                "adversarial p99 ms, 1,000-character prompt",
                percentile(self.timings_ms, 0.99),
                5.0,
                False,
            ),
        ]


def measure_adversarial(quick: bool, engines: Engines) -> Adversarial:
    """Both detectors on every text of every case (stock at its default threshold 0, its best
    recall); ours timed on 1,000-character prompts cut from the set's texts."""
    cases = load_cases() + load_cases(HIDDEN)
    pieces = [piece for case in cases for piece in case.pieces]
    passes, reps = (1, 20) if quick else (2, 100)
    ours_run, stock_run = run_alternating(
        pieces, (our_detector(engines.analyze), engines.stock), passes
    )
    ours: dict[str, CategoryScore] = {}
    stock: dict[str, CategoryScore] = {}
    at = 0
    for case in cases:
        n = len(case.pieces)
        score_case(
            case, ours_run.predictions[at : at + n], ours.setdefault(case.category, CategoryScore())
        )
        score_case(
            case,
            stock_run.predictions[at : at + n],
            stock.setdefault(case.category, CategoryScore()),
        )
        at += n
    texts = prompts(pieces)
    return Adversarial(
        cases=cases,
        ours=dict(sorted(ours.items())),
        stock=dict(sorted(stock.items())),
        timings_ms=latencies_ms(engines.analyze, texts, reps),
        prep_ms=latencies_ms(prepare, texts, reps),
        reps=reps,
    )


def _fp(c: CategoryScore) -> str:
    return f"{c.hits:3d}/{c.lookalikes:<3d}" if c.lookalikes else "  -    "


def adversarial_lines(res: Adversarial) -> list[str]:
    texts = sum(len(c.pieces) for c in res.cases)
    langs = [sum(c.pieces[0].lang == lang for c in res.cases) for lang in ("de", "en")]
    head = f"{'category':22} {'support':>7} | {'ours R':>6} {'stock R':>7} | look-alikes hit"
    lines = [
        f"PII benchmark, adversarial set ({ADVERSARIAL.name}): {len(res.cases)} cases "
        f"({langs[0]} de, {langs[1]} en), {texts} texts; a match: same type, >= 50 % of the gold "
        f"span; {SPLIT}: a value counts when every fragment is covered (any type, >= 50 %)",
        "stock Presidio at threshold 0 (its default)",
        "",
        head,
        "-" * len(head),
    ]
    for category, c in res.ours.items():
        theirs = res.stock[category]
        note = "  (measured, no target)" if category == SPLIT else ""
        lines.append(
            f"{category:22} {c.support:7d} | {c.recall:6.3f} {theirs.recall:7.3f} | "
            f"{_fp(c)}  {_fp(theirs)}{note}".rstrip()
        )
    lines.append("-" * len(head))
    ours, stock = res.total(res.ours), res.total(res.stock)
    lines.append(
        f"{'all but ' + SPLIT:22} {ours.support:7d} | {ours.recall:6.3f} {stock.recall:7.3f} | "
        f"{_fp(ours)}  {_fp(stock)}".rstrip()
    )
    split_ours, split_stock = res.total(res.ours, split=True), res.total(res.stock, split=True)
    lines += [
        f"split across messages: ours {split_ours.found}/{split_ours.support} "
        f"({split_ours.recall:.1%}), stock {split_stock.found}/{split_stock.support} "
        f"({split_stock.recall:.1%}) masked in every message",
        f"latency, ours, {N_PROMPTS} obfuscated prompts of ~{PROMPT_CHARS:,} chars x {res.reps} "
        f"runs: p50 {percentile(res.timings_ms, 0.5):.2f} ms, p99 "
        f"{percentile(res.timings_ms, 0.99):.2f} ms; {_prep(res.prep_ms)}",
        "",
        "targets:",
        *(
            f"  [{'ok' if g.ok else 'MISSED'}] {g.name}: {g.value:.4g} "
            f"({'>=' if g.higher_is_better else '<='} {g.target:g})"
            for g in res.targets
        ),
    ]
    return lines


def adversarial_examples(res: Adversarial, limit: int = 10) -> list[str]:
    lines = []
    for category, c in res.ours.items():
        if c.misses:
            lines.append(f"{category}: {len(c.misses)} missed")
            lines += [f"  miss  {m}".replace("\n", " ") for m in c.misses[:limit]]
    return lines


def adversarial_json(res: Adversarial) -> dict[str, Any]:
    def counts(c: CategoryScore) -> dict[str, float]:
        return {"support": c.support, "found": c.found, "recall": round(c.recall, 4),
                "lookalikes": c.lookalikes, "lookalike_hits": c.hits}  # fmt: skip

    return {
        "dataset": {
            "name": "adversarial",
            "file": ADVERSARIAL.name,
            "cases": len(res.cases),
            "texts": sum(len(c.pieces) for c in res.cases),
        },
        "per_category": {
            category: {
                "ours": counts(c),
                "stock": counts(res.stock[category]),
                "measured_only": category == SPLIT,
            }
            for category, c in res.ours.items()
        },
        "all_but_split": {
            "ours": counts(res.total(res.ours)),
            "stock": counts(res.total(res.stock)),
        },
        "latency_ms": {
            "p50": percentile(res.timings_ms, 0.5),
            "p99": percentile(res.timings_ms, 0.99),
            "prep_p50": percentile(res.prep_ms, 0.5),
            "prep_p99": percentile(res.prep_ms, 0.99),
        },
        "targets": [asdict(g) | {"ok": g.ok} for g in res.targets],
        "table": adversarial_lines(res),
        "misses": {category: c.misses for category, c in res.ours.items()},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="PII benchmark: ours against stock Presidio")
    parser.add_argument("--quick", action="store_true", help="fewer timing repetitions")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--examples", action="store_true", help="list misses and FPs always")
    parser.add_argument(
        "--dataset",
        choices=("dev", "holdout", "adversarial", "both", "all"),
        default="all",
        help="dev: the set the recognizers were tuned on; holdout: written blind to them; "
        "adversarial: obfuscated values; both: dev and holdout; all: the three",
    )
    args = parser.parse_args(argv)

    names = {"both": ("dev", "holdout"), "all": ("dev", "holdout", "adversarial")}.get(
        args.dataset, (args.dataset,)
    )
    engines = Engines.build()
    report: dict[str, Any] = {}
    missed: list[str] = []
    for n, name in enumerate(names):
        if name == "adversarial":
            adv = measure_adversarial(args.quick, engines)
            out = ([""] if n else []) + adversarial_lines(adv)
            missed_here = [g for g in adv.targets if not g.ok]
            if missed_here or args.examples:
                out += ["", "ours on the adversarial set: misses (up to 10 per category)"]
                out += adversarial_examples(adv)
            report["adversarial"] = adversarial_json(adv)
        else:
            res = measure(args.quick, name, engines)
            out = ([""] if n else []) + report_lines(res)  # a blank line between the sets
            missed_here = [g for g in res.targets if not g.ok]
            if missed_here or args.examples:
                out += [
                    "",
                    f"ours on the {name} set: misses and false positives (up to 10 each per type)",
                ]
                out += examples(res.ours)
            # The dev set keeps the top level (the schema from before there were two sets).
            if name == "dev":
                report.update(report_json(res))
            else:
                report[name] = report_json(res)
        print("\n".join(out), flush=True)
        missed += [f"{name}: {g.name}" for g in missed_here]
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    if missed:
        print("\nMISSED TARGETS: " + "; ".join(missed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
