"""Performance model of one vLLM engine under continuous batching, per GPU profile.

Shared by the engine simulator (which plays it out in real time, request by request) and the
capacity planner (which solves it analytically), so the two cannot disagree about the GPUs.

The model, per scheduler step (as vLLM's V1 scheduler with chunked prefill):
- every running sequence that has finished prefill decodes one token;
- new or partly prefilled sequences get prefill tokens from what is left of the step budget
  (``max_num_batched_tokens`` minus the decode tokens);
- step time = ``decode_base_s`` (reading the weights once: memory-bound)
  + ``decode_per_seq_s`` x decoding sequences (KV reads and compute per sequence)
  + prefill tokens / ``prefill_tokens_per_s`` (compute-bound);
- a sequence is admitted only while fewer than ``max_num_seqs`` run and its prompt fits the
  free KV cache; otherwise it waits (FCFS). Prompt blocks already in the prefix cache skip
  prefill and count as hits.

Calibration. Each figure below is derived from a published number, cited next to it.
[E] ../shared/ENGINE.md (MLPerf Inference and NVIDIA TensorRT-LLM figures: upper bounds for
vLLM). [B200] NVIDIA DGX B200 datasheet: 8 TB/s HBM3e per GPU, 4.5 PFLOPS dense FP8 and
2.25 PFLOPS dense BF16 per GPU (half the sparse figures). [RTX] NVIDIA RTX PRO 6000 Blackwell
Server Edition datasheet: 1.8 TB/s GDDR7; about 1 PFLOPS dense FP8, 0.5 PFLOPS dense BF16.
[H100] NVIDIA H100 SXM datasheet: 3.35 TB/s HBM3; 1.98 PFLOPS dense FP8, 0.99 dense BF16.
Assumptions, stated once: weights stream at 75 % of peak bandwidth; prefill runs at 40 % of
dense peak (35 % on PCIe-only TP=2); FLOPs per token = 2 x parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

from serving.profiles import PROFILES, LaunchProfile

BLOCK_SIZE = 16  # vLLM's default KV block size, in tokens: the prefix-cache granularity


@dataclass(frozen=True)
class EnginePerf:
    key: str
    gpus: int
    max_num_seqs: int
    kv_capacity_tokens: int
    max_num_batched_tokens: int
    prefill_tokens_per_s: float
    decode_base_s: float
    decode_per_seq_s: float
    source: str

    def step_seconds(self, decoding: int, prefill_tokens: int) -> float:
        return (
            self.decode_base_s
            + self.decode_per_seq_s * decoding
            + prefill_tokens / self.prefill_tokens_per_s
        )

    def decode_tokens_per_s(self, batch: int) -> float:
        """Aggregate output tokens/s with ``batch`` sequences decoding and no prefill."""
        return batch / self.step_seconds(batch, 0)

    def per_user_tokens_per_s(self, batch: int) -> float:
        return 1.0 / self.step_seconds(batch, 0)

    def max_batch_for_tpot(self, tpot_s: float) -> int:
        """Largest decode batch whose step time stays within ``tpot_s`` (0 if none)."""
        if tpot_s <= self.decode_base_s:
            return 0
        return min(self.max_num_seqs, int((tpot_s - self.decode_base_s) / self.decode_per_seq_s))


def _perf(
    key: str,
    *,
    prefill_tokens_per_s: float,
    decode_base_s: float,
    peak_tokens_per_s: float,
    at_batch: int,
    source: str,
) -> EnginePerf:
    """Fit the per-sequence decode cost so the engine reaches ``peak`` at ``at_batch``."""
    profile: LaunchProfile = PROFILES[key]
    step_at_peak = at_batch / peak_tokens_per_s
    per_seq = (step_at_peak - decode_base_s) / at_batch
    return EnginePerf(
        key=key,
        gpus=profile.tensor_parallel,
        max_num_seqs=profile.max_num_seqs,
        kv_capacity_tokens=profile.kv_cache_tokens(),
        max_num_batched_tokens=profile.max_num_batched_tokens,
        prefill_tokens_per_s=prefill_tokens_per_s,
        decode_base_s=decode_base_s,
        decode_per_seq_s=per_seq,
        source=source,
    )


_GB = 1e9

ENGINE_PERF: dict[str, EnginePerf] = {
    p.key: p
    for p in (
        _perf(
            "b200/llama-3.3-70b",
            # 4.5e15 FP8 [B200] x 0.40 / (2 x 70.6e9 FLOP/token)
            prefill_tokens_per_s=4.5e15 * 0.40 / (2 * 70.6e9),
            # 70.6 GB FP8 weights / (8 TB/s [B200] x 0.75)
            decode_base_s=70.6 * _GB / (8e12 * 0.75),
            # MLPerf Llama-2-70B interactive: ~7,400 tokens/s per B200 at ~270 streams [E]
            peak_tokens_per_s=7400,
            at_batch=270,
            source="[E] MLPerf interactive B200 7,400 tok/s @ ~270 streams; [B200]",
        ),
        _perf(
            "b200/llama-3.1-8b",
            prefill_tokens_per_s=2.25e15 * 0.40 / (2 * 8.03e9),  # BF16 [B200]
            decode_base_s=16.1 * _GB / (8e12 * 0.75),
            # No published B200 8B figure in [E]: RTX Pro 6000 8B peak (~7,800 [E]) scaled by
            # the B200/RTX Pro 70B ratio (6,900 / 1,700 [E]) = ~31,600 tokens/s.
            peak_tokens_per_s=7800 * 6900 / 1700,
            at_batch=512,
            source="derived: [E] RTX Pro 8B 7,800 x (B200 6,900 / RTX 1,700 on 70B); [B200]",
        ),
        _perf(
            "rtx-pro-6000/llama-3.1-8b",
            prefill_tokens_per_s=0.5e15 * 0.40 / (2 * 8.03e9),  # BF16 [RTX]
            decode_base_s=16.1 * _GB / (1.8e12 * 0.75),
            # Llama-3.1-8B on an RTX Pro 6000 with vLLM peaks around 7,600-8,000 tokens/s [E]
            peak_tokens_per_s=7800,
            at_batch=256,
            source="[E] vLLM Llama-3.1-8B on RTX Pro 6000 7,600-8,000 tok/s; [RTX]",
        ),
        _perf(
            "rtx-pro-6000/llama-3.3-70b",
            # two cards, FP8 [RTX], 35 % over PCIe
            prefill_tokens_per_s=2 * 1e15 * 0.35 / (2 * 70.6e9),
            # 35.3 GB of weights per card / (1.8 TB/s x 0.75), plus ~2 ms PCIe all-reduce
            decode_base_s=35.3 * _GB / (1.8e12 * 0.75) + 0.002,
            # ~1,700 tokens/s per GPU (FP4, max throughput) [E]; TP=2 FP8 taken as equal
            # per GPU: 3,400 for the two-card engine.
            peak_tokens_per_s=3400,
            at_batch=128,
            source="[E] RTX Pro 6000 70B 1,700 tok/s per GPU; [RTX]",
        ),
        _perf(
            "h100/llama-3.1-8b",
            prefill_tokens_per_s=0.99e15 * 0.40 / (2 * 8.03e9),  # BF16 [H100]
            decode_base_s=16.1 * _GB / (3.35e12 * 0.75),
            # Derived: RTX Pro 8B peak (7,800 [E]) x H100/RTX 70B per-GPU (2,200 / 1,700 [E])
            peak_tokens_per_s=7800 * 2200 / 1700,
            at_batch=256,
            source="derived: [E] RTX Pro 8B 7,800 x (H100 2,200 / RTX 1,700 on 70B); [H100]",
        ),
        _perf(
            "h100/llama-3.3-70b",
            prefill_tokens_per_s=2 * 1.98e15 * 0.40 / (2 * 70.6e9),  # TP=2 FP8 [H100]
            decode_base_s=35.3 * _GB / (3.35e12 * 0.75),
            # Llama-3.3-70B H100 TP2 FP8 ~2,200 tokens/s per GPU [E] -> 4,400 per engine
            peak_tokens_per_s=4400,
            at_batch=128,
            source="[E] H100 TP2 FP8 70B 2,200 tok/s per GPU; [H100]",
        ),
    )
}

# The local CPU engine (SmolLM2-135M on 1 core), measured here: about 17 tokens/s for one
# stream, 22 in aggregate at 8 or more (../shared/ENGINE.md). For the simulator's "cpu" mode.
CPU_SMOLLM2 = EnginePerf(
    key="cpu/smollm2",
    gpus=0,
    max_num_seqs=256,
    kv_capacity_tokens=200_000,
    max_num_batched_tokens=2048,
    prefill_tokens_per_s=400.0,
    decode_base_s=1 / 17.5,
    decode_per_seq_s=(8 / 22 - 1 / 17.5) / 8,
    source="[E] measured: 17 tok/s single stream, 22 tok/s aggregate at 8 streams",
)
ENGINE_PERF[CPU_SMOLLM2.key] = CPU_SMOLLM2


def get(key: str) -> EnginePerf:
    try:
        return ENGINE_PERF[key]
    except KeyError:
        known = ", ".join(sorted(ENGINE_PERF))
        raise KeyError(f"unknown engine profile {key!r}; known: {known}") from None
