"""The green-list watermark as a vLLM 0.32 (V1 engine) logits processor.

Loaded into the engine with ``--logits-processors serving.watermark_processor:
WatermarkLogitsProcessor`` (``serving/local_engine.py`` does it with ``--watermark``); the
scheme and its key come from the engine's environment (``serving/watermark_scheme.py``,
``SOVEREIGN_WATERMARK_KEY``), never from a request. A request is watermarked only when its
extra args say so (``"vllm_xargs": {"sovereign_watermark": 1}`` in the OpenAI body, which the
gateway sets per pool or per request); every other request's logits are returned untouched,
and a batch without watermarked requests is not looked at at all.

This module runs inside the engine's own environment (torch, vLLM); the gateway's never
imports it.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import torch
from vllm.v1.sample.logits_processor import AdapterLogitsProcessor

from serving.watermark_scheme import REQUEST_ARG, WatermarkScheme, requested

if TYPE_CHECKING:
    from vllm.config import VllmConfig
    from vllm.sampling_params import SamplingParams

# Green masks of recent contexts, as float tensors ready to add: 49,152 floats (SmolLM2) are
# 192 KiB, so 256 of them stay under 50 MiB. A miss costs about a millisecond.
CACHE_SIZE = 256


class GreenBias:
    """``delta`` on the green list of each context, cached per context."""

    def __init__(self, scheme: WatermarkScheme, cache_size: int = CACHE_SIZE) -> None:
        self.scheme = scheme
        self.cache_size = cache_size
        self._cache: OrderedDict[tuple[int, ...], torch.Tensor] = OrderedDict()

    def for_context(self, context: tuple[int, ...], vocab_size: int) -> torch.Tensor:
        bias = self._cache.get(context)
        if bias is None or bias.shape[0] != vocab_size:
            mask = self.scheme.green_mask(context, vocab_size)
            bias = torch.from_numpy(mask).to(torch.float32) * self.scheme.delta
            self._cache[context] = bias
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(context)
        return bias


class _RequestWatermark:
    """One request's processor: vLLM calls it with the prompt, the output so far (a live
    reference) and that request's logits row."""

    def __init__(self, bias: GreenBias) -> None:
        self.bias = bias

    def __call__(
        self, prompt_ids: list[int], output_ids: list[int], logits: torch.Tensor
    ) -> torch.Tensor:
        width = self.bias.scheme.context_width
        tail = output_ids[-width:]
        if len(tail) < width:
            # The first tokens' context reaches into the prompt (the detector, which never
            # sees the prompt, simply does not score those few tokens).
            tail = [*prompt_ids[len(tail) - width :], *tail] if prompt_ids else tail
        if not tail or min(tail) < 0:
            # No context (an empty prompt), or a placeholder id of asynchronous scheduling
            # not yet filled in: this one token stays unmarked rather than marked wrongly.
            return logits
        bias = self.bias.for_context(tuple(tail), logits.shape[-1])
        return logits.add_(bias.to(logits.dtype))


class WatermarkLogitsProcessor(AdapterLogitsProcessor):  # type: ignore[misc]
    """The engine-wide processor: per request, a ``_RequestWatermark`` or nothing."""

    def __init__(self, vllm_config: VllmConfig, device: torch.device, is_pin_memory: bool):
        super().__init__(vllm_config, device, is_pin_memory)
        scheme = WatermarkScheme.from_env()
        self.bias = GreenBias(scheme) if scheme is not None else None

    @classmethod
    def validate_params(cls, sampling_params: SamplingParams) -> None:
        # Runs in the API server: a request that asks for the watermark on an engine without
        # a key is refused (HTTP 400) instead of being answered unmarked.
        if requested(sampling_params.extra_args) and WatermarkScheme.from_env() is None:
            raise ValueError(f"{REQUEST_ARG} was requested but this engine has no watermark key")

    def is_argmax_invariant(self) -> bool:
        return False  # the bias can change the greedy choice; that is the point

    def new_req_logits_processor(self, params: SamplingParams) -> Any:
        if self.bias is None or not requested(params.extra_args):
            return None
        return _RequestWatermark(self.bias)
