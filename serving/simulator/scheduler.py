"""The continuous-batching engine core: vLLM V1's scheduler, reduced to counting.

Pure and synchronous: ``schedule(now)`` plans one step and says how long it takes (from
``EnginePerf.step_seconds``); ``complete(step, now)`` applies its results at the end. Whoever
drives it (the asyncio engine in real time, or a test with a fake clock) owns the waiting.

Like vLLM V1, a sequence is just "tokens known" vs "tokens computed": a step computes
``min(known - computed, budget)`` tokens of it, and when it catches up a new token is
sampled. Decoding is the case of one token; a prefill may take several steps (chunked
prefill); a sequence preempted for lack of KV blocks is recomputed from scratch (prompt plus
the tokens it already generated, mostly prefix-cache hits) and then goes on.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from serving.perfmodel import BLOCK_SIZE, EnginePerf
from serving.simulator.kvcache import BlockPool, blocks_for

FINISH_STOP = "stop"
FINISH_LENGTH = "length"
FINISH_ABORT = "abort"


def _nothing() -> None:
    return None


@dataclass(eq=False)
class Sequence:
    request_id: str
    prompt_len: int
    block_hashes: tuple[int, ...]  # the prompt's full blocks, chained
    max_tokens: int  # finish "length" after this many tokens
    eos_at: int | None  # finish "stop" after this many (the EOS token); None: ignore_eos
    arrival: float
    notify: Callable[[], None] = _nothing  # called when tokens or the finish are ready
    generated: int = 0
    computed: int = 0  # tokens whose KV is computed
    private_blocks: int = 0
    shared: list[int] = field(default_factory=list)  # hashes of the cached blocks it holds
    preemptions: int = 0
    scheduled_at: float | None = None  # first admission (end of queueing)
    first_token_at: float | None = None
    last_token_at: float | None = None
    finish_reason: str | None = None

    @property
    def known(self) -> int:
        return self.prompt_len + self.generated

    @property
    def blocks(self) -> int:
        return self.private_blocks + len(self.shared)

    @property
    def finished(self) -> bool:
        return self.finish_reason is not None


@dataclass
class Step:
    work: list[tuple[Sequence, int]] = field(default_factory=list)
    decoding: int = 0
    prefill_tokens: int = 0
    duration: float = 0.0
    preempted: int = 0
    cache_queries: int = 0  # in tokens, as vLLM's prefix-cache counters
    cache_hits: int = 0

    def add(self, seq: Sequence, tokens: int) -> None:
        self.work.append((seq, tokens))
        if tokens == 1 and seq.generated > 0:
            self.decoding += 1
        else:
            self.prefill_tokens += tokens


@dataclass
class Outcome:
    emitted: list[Sequence] = field(default_factory=list)  # each got one new token
    finished: list[Sequence] = field(default_factory=list)


class EngineCore:
    def __init__(self, perf: EnginePerf) -> None:
        self.perf = perf
        self.pool = BlockPool(perf.kv_capacity_tokens // BLOCK_SIZE)
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []  # in admission order

    def add(self, seq: Sequence) -> None:
        self.waiting.append(seq)

    def sequences(self) -> Iterator[Sequence]:
        yield from self.running
        yield from self.waiting

    def abort(self, seq: Sequence, reason: str = FINISH_ABORT) -> bool:
        """Take a sequence out wherever it is; False if it had already finished."""
        if seq.finished:
            return False
        if seq in self.running:
            self.running.remove(seq)
            self._free(seq)
        elif seq in self.waiting:
            self.waiting.remove(seq)
        seq.finish_reason = reason
        return True

    def schedule(self, now: float) -> Step | None:
        step = Step()
        budget = self.perf.max_num_batched_tokens
        i = 0
        while i < len(self.running) and budget > 0:
            seq = self.running[i]
            tokens = min(seq.known - seq.computed, budget)
            if not self._reserve(seq, seq.computed + tokens, step):
                break  # it was the most recent one: preempted itself
            step.add(seq, tokens)
            budget -= tokens
            i += 1
        if not step.preempted:  # as vLLM: no admissions in a step that had to preempt
            self._admit(now, budget, step)
        if not step.work:
            return None
        step.duration = self.perf.step_seconds(step.decoding, step.prefill_tokens)
        return step

    def complete(self, step: Step, now: float) -> Outcome:
        outcome = Outcome()
        for seq, tokens in step.work:
            if seq.finished:
                continue  # aborted while the step ran
            seq.computed += tokens
            self._publish(seq)
            if seq.computed < seq.known:
                continue  # a prefill chunk: no token yet
            seq.generated += 1
            if seq.first_token_at is None:
                seq.first_token_at = now
            outcome.emitted.append(seq)
            if seq.generated >= seq.max_tokens:
                seq.finish_reason = FINISH_LENGTH
            elif seq.eos_at is not None and seq.generated >= seq.eos_at:
                seq.finish_reason = FINISH_STOP
            if seq.finished:
                self._free(seq)
                outcome.finished.append(seq)
        if outcome.finished:
            self.running = [s for s in self.running if not s.finished]
        return outcome

    def _reserve(self, seq: Sequence, tokens: int, step: Step) -> bool:
        """Blocks for ``tokens`` of ``seq``, preempting the newest sequences if needed."""
        need = blocks_for(tokens, BLOCK_SIZE) - seq.blocks
        while need > self.pool.free:
            victim = self.running.pop()
            self._preempt(victim)
            step.preempted += 1
            if victim is seq:
                return False
        if need > 0:
            self.pool.take(need)
            seq.private_blocks += need
        return True

    def _admit(self, now: float, budget: int, step: Step) -> None:
        while self.waiting and budget > 0 and len(self.running) < self.perf.max_num_seqs:
            seq = self.waiting[0]
            target = seq.known
            # At least one token is always computed: its logits give the next token.
            hits = min(self.pool.cached_prefix(seq.block_hashes), (target - 1) // BLOCK_SIZE)
            reused = seq.block_hashes[:hits]
            new_blocks = blocks_for(target, BLOCK_SIZE) - hits
            if new_blocks + self.pool.evictable_among(reused) > self.pool.free:
                return  # FCFS: nobody overtakes the head of the queue
            self.waiting.popleft()
            for h in reused:
                self.pool.acquire(h)
            self.pool.take(new_blocks)
            seq.shared = list(reused)
            seq.private_blocks = new_blocks
            seq.computed = hits * BLOCK_SIZE
            step.cache_queries += target
            step.cache_hits += seq.computed
            if seq.scheduled_at is None:
                seq.scheduled_at = now
            self.running.append(seq)
            tokens = min(target - seq.computed, budget)
            step.add(seq, tokens)
            budget -= tokens

    def _publish(self, seq: Sequence) -> None:
        """Full prompt blocks just computed become shareable prefix-cache blocks."""
        full = min(seq.computed, seq.prompt_len) // BLOCK_SIZE
        for index in range(len(seq.shared), full):
            h = seq.block_hashes[index]
            self.pool.publish(h)
            seq.private_blocks -= 1
            seq.shared.append(h)

    def _free(self, seq: Sequence) -> None:
        # Tail blocks first, as vLLM: the LRU then evicts a prompt's end before its start.
        for h in reversed(seq.shared):
            self.pool.release(h)
        self.pool.give_back(seq.private_blocks)
        seq.shared = []
        seq.private_blocks = 0

    def _preempt(self, seq: Sequence) -> None:
        self._free(seq)
        seq.computed = 0
        seq.preemptions += 1
        self.waiting.appendleft(seq)
