"""One chat or completion request from arrival to its last byte, with its faults.

The engine loop only counts tokens and wakes the request (``seq.notify``); the text of token
``i`` is derived here from the prompt's seed, so the scheduler never touches strings.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

from serving.simulator import render, text
from serving.simulator.engine import Engine
from serving.simulator.faults import FaultSpec
from serving.simulator.protocol import GenerationRequest
from serving.simulator.scheduler import FINISH_ABORT, FINISH_STOP, Sequence
from serving.simulator.wire import EVENT_STREAM, Request, drop, send_bytes, start
from serving.simulator.wire import watch_disconnect as watch

_EOS_JSON = b'""'  # the end-of-sequence token is counted but shows no text, as in vLLM


@dataclass
class _Live:
    """A request in flight: its sequence, the event the engine sets, its output seed."""

    seq: Sequence
    wake: asyncio.Event
    seed: int

    def token_json(self, i: int) -> bytes:
        seq = self.seq
        if seq.finish_reason == FINISH_STOP and i == seq.generated - 1:
            return _EOS_JSON
        return text.VOCAB_JSON[text.token_index(self.seed, i)]

    def content(self) -> str:
        seq = self.seq
        shown = seq.generated - (1 if seq.finish_reason == FINISH_STOP else 0)
        return text.output_text(self.seed, shown)

    async def next(self, engine: Engine, request: Request, *, started: bool) -> None:
        await self.wake.wait()
        self.wake.clear()
        if engine.crashed:
            await drop(request.send, started=started)


async def generate(
    engine: Engine,
    request: Request,
    parsed: GenerationRequest,
    max_tokens: int,
    fault: FaultSpec,
    *,
    chat: bool,
) -> int:
    prompt = parsed.prompt
    base_id = request.header(b"x-request-id") or render.new_id()
    request_id = ("chatcmpl-" if chat else "cmpl-") + base_id
    eos_at = None if parsed.ignore_eos else text.natural_length(prompt.seed)
    seq = Sequence(
        request_id, prompt.count, prompt.block_hashes, max_tokens, eos_at, engine.clock()
    )
    live = _Live(seq, asyncio.Event(), prompt.seed)
    seq.notify = live.wake.set
    watcher = asyncio.get_running_loop().create_task(
        watch(request.receive, lambda: engine.abort(seq))
    )
    try:
        if parsed.stream:
            await start(request.send, 200, EVENT_STREAM)  # headers go out at once, as vLLM
        await engine.delay(fault.ttft_s or 0.0)
        if engine.crashed:
            await drop(request.send, started=parsed.stream)
        if seq.finished:
            return 200 if parsed.stream else 499  # the client left during the delay
        engine.submit(seq)
        if parsed.stream:
            return await _stream(engine, request, live, parsed, fault, chat=chat)
        return await _whole(engine, request, live, fault, chat=chat)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        engine.abort(seq)  # no-op once finished; frees the slot if we leave early


async def _stream(
    engine: Engine,
    request: Request,
    live: _Live,
    parsed: GenerationRequest,
    fault: FaultSpec,
    *,
    chat: bool,
) -> int:
    seq, send = live.seq, request.send
    encoder = render.StreamEncoder(
        chat=chat, request_id=seq.request_id, created=int(time.time()), model=engine.config.model
    )
    stall_at = (fault.stall_after or 1) if fault.stall_s else None
    cut_at = fault.disconnect_after
    sent = 0
    while True:
        await live.next(engine, request, started=True)
        if seq.finish_reason == FINISH_ABORT:
            return 200  # the client is gone: nothing more to write
        upto, done = seq.generated, seq.finished
        parts = [encoder.first] if sent == 0 and upto > 0 and encoder.first else []
        if parts and parsed.continuous_usage:
            parts[0] = encoder.with_usage(parts[0], seq.prompt_len, 0)
        for i in range(sent, upto):
            if cut_at is not None and i >= cut_at:
                await send(
                    {"type": "http.response.body", "body": b"".join(parts), "more_body": True}
                )
                await drop(send, started=True)
            if done and i == upto - 1:
                reason = seq.finish_reason or "length"
                event = encoder.last(live.token_json(i), reason, parsed.include_usage)
            else:
                event = encoder.token(live.token_json(i))
            if parsed.continuous_usage:
                event = encoder.with_usage(event, seq.prompt_len, i + 1)
            parts.append(event)
        sent = upto
        if done:
            if parsed.include_usage:
                parts.append(encoder.usage(seq.prompt_len, seq.generated))
            parts.append(render.DONE)
            await send({"type": "http.response.body", "body": b"".join(parts), "more_body": False})
            return 200
        await send({"type": "http.response.body", "body": b"".join(parts), "more_body": True})
        if stall_at is not None and sent >= stall_at:
            stall_at = None
            await engine.delay(fault.stall_s or 0.0)  # tokens pile up meanwhile, then flow on
            live.wake.set()


async def _whole(
    engine: Engine, request: Request, live: _Live, fault: FaultSpec, *, chat: bool
) -> int:
    seq = live.seq
    cut_at = fault.disconnect_after
    while not seq.finished:
        await live.next(engine, request, started=False)
        if seq.finish_reason == FINISH_ABORT:
            return 499  # nobody to answer (nginx's "client closed request", for the metrics)
        if cut_at is not None and seq.generated >= cut_at:
            await drop(request.send, started=False)
    await engine.delay(fault.stall_s or 0.0)
    build = render.chat_completion if chat else render.text_completion
    body = build(
        seq.request_id,
        int(time.time()),
        engine.config.model,
        live.content(),
        seq.finish_reason or "length",
        seq.prompt_len,
        seq.generated,
    )
    return await send_bytes(request.send, 200, body)
