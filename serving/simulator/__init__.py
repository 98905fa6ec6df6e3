"""A vLLM-compatible engine simulator: vLLM 0.32's OpenAI server at GPU speed, without a GPU.

Each simulated engine answers like ``vllm serve`` (same routes, JSON and SSE shapes, error
bodies, ``/metrics`` names and labels) and plays ``serving.perfmodel``'s performance model
out in real time: FCFS queue, continuous batching up to ``max_num_seqs``, chunked prefill
within ``max_num_batched_tokens``, KV blocks of 16 tokens with prefix caching and
preemption. Many engines run in one process, one port each.

Command line::

    python -m serving.simulator --profile b200/llama-3.3-70b --model llama-3.3-70b \\
        --engines 50 --base-port 9100 [--host 127.0.0.1] [--speed 1.0] \\
        [--max-model-len N] [--fault ENGINE_INDEX:SPEC ...]

prints one line once every engine listens, and stops on SIGINT/SIGTERM. ``--speed 0.1`` runs
every duration (steps, scripted delays) ten times faster.

Python::

    async with run_simulator(SimulatorConfig("cpu/smollm2", "smollm2", engines=3)) as sim:
        sim.base_urls; await sim.crash(1); await sim.restart(1); sim.set_fault(0, "error=503")

    with SimulatorThread(SimulatorConfig(...)) as sim:  # sync tests: own thread and loop
        ...

Faults, per engine (``--fault 3:SPEC``, ``set_fault``) or per request (header
``x-sim-fault: SPEC``, overriding the engine's). SPEC is comma-separated items:

``error=STATUS``
    answer with STATUS (400-599) in vLLM's error JSON; alone, every request fails.
``error_rate=P``
    a fraction P of requests fail (status from ``error``, default 500); seeded per engine.
``ttft=SECONDS``
    extra time before the request enters the engine (its first token comes that much later).
``stall=SECONDS[,stall_after=K]``
    a stream goes silent for SECONDS after K tokens (default 1); tokens generated meanwhile
    follow at once. A non-streamed answer is held back by SECONDS.
``disconnect_after=K``
    the connection is cut after K token events, without ``[DONE]`` (non-streamed: after K
    tokens, with the headers sent and no body). The engine aborts the request.
``crash``
    the engine dies on this request (per engine: on its first request): every connection is
    reset (this request's too, before any answer), the port closes, the other engines go
    on. ``restart`` brings it back.
``crash_after=N`` / ``crash_at=SECONDS`` (per engine only)
    crash when request N+1 arrives / SECONDS after start.

Example: ``x-sim-fault: ttft=2.5,stall=10,stall_after=5``.

Differences from vLLM worth knowing: ``n`` > 1 is ignored (one choice); ``stop``,
``logprobs`` and sampling parameters are ignored; one prompt per completions request; the
output text is deterministic filler drawn from the prompt (and ``seed``), its natural length
(before EOS, unless ``ignore_eos``) log-normal around 200 tokens; prompt tokens come from a
pseudo-tokenizer (``text.py``). Embeddings (384-dimension unit vectors by feature hashing)
are served by every engine and priced as one prefill, outside the batch.

Modules::

    cli.py, __main__.py   ``python -m serving.simulator``
    host.py               many engines in one process, one server per port
    background.py         a simulator on a thread of its own, for synchronous tests
    api.py, wire.py       one engine's HTTP surface (plain ASGI) and its plumbing
    protocol.py           request parsing with vLLM's codes and messages
    render.py             response bodies in vLLM's shapes
    generate.py           one request from arrival to its last byte
    engine.py             the scheduler core in real time
    scheduler.py          continuous batching, counted
    kvcache.py            KV blocks with prefix caching
    text.py               pseudo-tokenizer, chat template, deterministic output
    metrics.py            vLLM's Prometheus metrics
    faults.py             scripted faults
"""

from serving.simulator.background import SimulatorThread
from serving.simulator.engine import Engine, EngineConfig, engine_config
from serving.simulator.faults import FaultSpec, parse_fault
from serving.simulator.host import Simulator, SimulatorConfig, run_simulator

__all__ = [
    "Engine",
    "EngineConfig",
    "FaultSpec",
    "Simulator",
    "SimulatorConfig",
    "SimulatorThread",
    "engine_config",
    "parse_fault",
    "run_simulator",
]
