"""Launch profiles for vLLM engines per GPU class and model size: the ``vllm serve`` flags.

One profile per (gpu, model) pair our users run. Each flag carries its reasoning; the Helm
chart and the capacity planner read the same objects, so what we document is what we deploy.

Memory arithmetic (bytes per token of KV cache) uses the model's shape:
``2 (K and V) x layers x kv_heads x head_dim x bytes_per_element``.

- Llama-3.1-8B: 32 layers, 8 KV heads (GQA), head_dim 128 -> 64 KiB/token in FP8,
  128 KiB/token in BF16. (Meta, Llama 3.1 model card / config.json)
- Llama-3.3-70B: 80 layers, 8 KV heads, head_dim 128 -> 160 KiB/token in FP8.
  (Meta, Llama 3.3 model card / config.json)

GPU memory: B200 180 GB HBM3e usable per GPU (NVIDIA DGX B200 datasheet: 1,440 GB for 8);
RTX Pro 6000 Blackwell 96 GB GDDR7 (NVIDIA RTX PRO 6000 Blackwell datasheet); H100 SXM 80 GB
HBM3 (NVIDIA H100 datasheet). Throughput figures cited below come from ../shared/ENGINE.md
(MLPerf Inference and NVIDIA's published TensorRT-LLM numbers: upper bounds for vLLM).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

GIB = 1024**3


@dataclass(frozen=True)
class ModelShape:
    name: str
    hf_id: str
    params_billion: float
    layers: int
    kv_heads: int
    head_dim: int

    def kv_bytes_per_token(self, bytes_per_element: float) -> int:
        return int(2 * self.layers * self.kv_heads * self.head_dim * bytes_per_element)


LLAMA_8B = ModelShape("llama-3.1-8b", "meta-llama/Llama-3.1-8B-Instruct", 8.03, 32, 8, 128)
LLAMA_70B = ModelShape("llama-3.3-70b", "meta-llama/Llama-3.3-70B-Instruct", 70.6, 80, 8, 128)
SMOLLM2_135M = ModelShape("smollm2", "HuggingFaceTB/SmolLM2-135M-Instruct", 0.135, 30, 3, 64)


@dataclass(frozen=True)
class GpuClass:
    name: str
    memory_gib: float
    nvlink: bool


B200 = GpuClass("b200", 180 * 1e9 / GIB, nvlink=True)
RTX_PRO_6000 = GpuClass("rtx-pro-6000", 96 * 1e9 / GIB, nvlink=False)
H100 = GpuClass("h100", 80 * 1e9 / GIB, nvlink=True)
CPU = GpuClass("cpu", 0.0, nvlink=False)


@dataclass(frozen=True)
class LaunchProfile:
    gpu: GpuClass
    model: ModelShape
    tensor_parallel: int
    max_num_seqs: int
    gpu_memory_utilization: float
    max_model_len: int
    weight_bytes_per_param: float  # 2 BF16, 1 FP8, 0.5 FP4
    kv_cache_dtype: str  # "fp8" or "auto" (the model dtype)
    quantization: str | None
    max_num_batched_tokens: int
    reasons: tuple[str, ...]
    extra_flags: tuple[str, ...] = field(default=())

    @property
    def key(self) -> str:
        return f"{self.gpu.name}/{self.model.name}"

    def kv_cache_tokens(self) -> int:
        """KV-cache capacity in tokens across the tensor-parallel group (estimate).

        Free memory after weights, minus about 8 % for activations, CUDA graphs and the
        allocator, divided by the KV bytes per token.
        """
        budget = self.gpu.memory_gib * GIB * self.gpu_memory_utilization * self.tensor_parallel
        weights = self.model.params_billion * 1e9 * self.weight_bytes_per_param
        free = (budget - weights) * 0.92
        per_token = self.model.kv_bytes_per_token(1 if self.kv_cache_dtype == "fp8" else 2)
        return max(0, int(free // per_token))

    def vllm_args(self, model_path: str | None = None, port: int = 8000) -> list[str]:
        args = [
            "vllm",
            "serve",
            model_path or self.model.hf_id,
            "--served-model-name",
            self.model.name,
            "--port",
            str(port),
            "--tensor-parallel-size",
            str(self.tensor_parallel),
            "--max-num-seqs",
            str(self.max_num_seqs),
            "--gpu-memory-utilization",
            str(self.gpu_memory_utilization),
            "--max-model-len",
            str(self.max_model_len),
            "--max-num-batched-tokens",
            str(self.max_num_batched_tokens),
            "--kv-cache-dtype",
            self.kv_cache_dtype,
            "--enable-prefix-caching",
        ]
        if self.quantization:
            args += ["--quantization", self.quantization]
        return args + list(self.extra_flags)


_COMMON = (
    "--enable-prefix-caching: multi-turn chats and shared system prompts reuse their KV "
    "blocks; the gateway's session affinity routes turns to the same engine for it.",
)

PROFILES: dict[str, LaunchProfile] = {
    p.key: p
    for p in (
        LaunchProfile(
            B200,
            LLAMA_8B,
            tensor_parallel=1,
            max_num_seqs=512,
            gpu_memory_utilization=0.90,
            max_model_len=32768,
            weight_bytes_per_param=2,
            kv_cache_dtype="fp8",
            quantization=None,
            max_num_batched_tokens=16384,
            reasons=(
                "TP=1: 16 GB of BF16 weights use 9 % of a B200; splitting would only add "
                "all-reduce cost.",
                "max-num-seqs 512: about 2 M KV tokens fit (FP8 KV, 64 KiB/token), so 512 "
                "sequences of ~4k context each stay resident without preemption.",
                "max-num-batched-tokens 16384: large chunked-prefill budget; the B200's "
                "compute absorbs long prompts without stalling decode steps.",
                *_COMMON,
            ),
        ),
        LaunchProfile(
            B200,
            LLAMA_70B,
            tensor_parallel=1,
            max_num_seqs=256,
            gpu_memory_utilization=0.92,
            max_model_len=32768,
            weight_bytes_per_param=1,
            kv_cache_dtype="fp8",
            quantization="fp8",
            max_num_batched_tokens=8192,
            reasons=(
                "FP8 weights (71 GB) fit one B200 with ~85 GB left for KV: TP=1 maximises "
                "tokens/s per GPU; use TP=2 only when TTFT on long prompts matters more.",
                "max-num-seqs 256: MLPerf Llama-2-70B interactive on B200 sustains about 270 "
                "concurrent streams at about 28 tokens/s each (~7,400 output tokens/s per GPU; "
                "../shared/ENGINE.md); beyond that the 40 ms TPOT bound breaks.",
                "max-num-batched-tokens 8192: bounds the prefill chunk so decode steps stay "
                "under the 40 ms TPOT target while long prompts are admitted.",
                *_COMMON,
            ),
        ),
        LaunchProfile(
            RTX_PRO_6000,
            LLAMA_8B,
            tensor_parallel=1,
            max_num_seqs=256,
            gpu_memory_utilization=0.90,
            max_model_len=32768,
            weight_bytes_per_param=2,
            kv_cache_dtype="fp8",
            quantization=None,
            max_num_batched_tokens=8192,
            reasons=(
                "TP=1: the card has no NVLink, so tensor parallelism would all-reduce over "
                "PCIe; an 8B model fits one 96 GB card with ~1 M KV tokens to spare.",
                "max-num-seqs 256: Llama-3.1-8B on an RTX Pro 6000 with vLLM peaks around "
                "7,600 to 8,000 tokens/s (../shared/ENGINE.md); that peak is reached well "
                "below 256 concurrent sequences, more only queues in the engine.",
                *_COMMON,
            ),
        ),
        LaunchProfile(
            RTX_PRO_6000,
            LLAMA_70B,
            tensor_parallel=2,
            max_num_seqs=128,
            gpu_memory_utilization=0.92,
            max_model_len=16384,
            weight_bytes_per_param=1,
            kv_cache_dtype="fp8",
            quantization="fp8",
            max_num_batched_tokens=4096,
            reasons=(
                "TP=2 with FP8 weights: 71 GB do not leave room for KV on one 96 GB card; two "
                "cards hold ~35 GB of weights each and ~100 GB of KV together. NVFP4 on one "
                "card (about 1,700 tokens/s per GPU, ../shared/ENGINE.md) is the alternative "
                "when an FP4 checkpoint is approved for the tenant.",
                "max-num-seqs 128 and max-model-len 16384: PCIe all-reduce makes each decode "
                "step slower than on NVLink parts; fewer, shorter sequences keep TPOT bounded.",
                *_COMMON,
            ),
        ),
        LaunchProfile(
            H100,
            LLAMA_8B,
            tensor_parallel=1,
            max_num_seqs=256,
            gpu_memory_utilization=0.90,
            max_model_len=32768,
            weight_bytes_per_param=2,
            kv_cache_dtype="fp8",
            quantization=None,
            max_num_batched_tokens=8192,
            reasons=("TP=1: 16 GB of weights on an 80 GB card.", *_COMMON),
        ),
        LaunchProfile(
            H100,
            LLAMA_70B,
            tensor_parallel=2,
            max_num_seqs=128,
            gpu_memory_utilization=0.92,
            max_model_len=16384,
            weight_bytes_per_param=1,
            kv_cache_dtype="fp8",
            quantization="fp8",
            max_num_batched_tokens=8192,
            reasons=(
                "TP=2 FP8, as in NVIDIA's Llama-3.3-70B max-throughput figure for H100 (about "
                "2,200 tokens/s per GPU, ../shared/ENGINE.md).",
                *_COMMON,
            ),
        ),
    )
}


def helm_profiles() -> str:
    """``charts/sovereign-gateway/files/profiles.yaml``: each profile's engine flags (after
    ``vllm serve MODEL``), GPUs per engine and concurrency cap, for the chart's templates. A
    test keeps the committed file equal to this output."""
    import yaml  # the chart's file only; the rest of this module stays dependency-free

    data = {
        key: {
            "gpu": p.gpu.name,
            "model": p.model.name,
            "hfId": p.model.hf_id,
            "gpus": p.tensor_parallel,
            "maxNumSeqs": p.max_num_seqs,
            "args": p.vllm_args()[3:],
        }
        for key, p in sorted(PROFILES.items())
    }
    header = "# Generated by `python -m serving.profiles --helm`; do not edit by hand.\n"
    return header + yaml.safe_dump(data, sort_keys=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m serving.profiles", description="print vLLM launch profiles"
    )
    parser.add_argument("profile", nargs="?", help="e.g. b200/llama-3.3-70b (default: all)")
    parser.add_argument(
        "--helm",
        action="store_true",
        help="print every profile as the Helm chart's files/profiles.yaml",
    )
    args = parser.parse_args(argv)
    if args.helm:
        print(helm_profiles(), end="")
        return 0
    chosen = [PROFILES[args.profile]] if args.profile else list(PROFILES.values())
    for profile in chosen:
        print(f"# {profile.key}: ~{profile.kv_cache_tokens():,} KV-cache tokens")
        for reason in profile.reasons:
            print(f"#  - {reason}")
        print(" ".join(profile.vllm_args()))
        print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
