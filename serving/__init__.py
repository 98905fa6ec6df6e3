"""The engines' side: launch profiles for GPU pools, and development engines.

::

    profiles.py      launch profiles (vLLM flags, max_num_seqs) per GPU class and model
    perfmodel.py     the performance model of those profiles (planner, simulator)
    simulator/       a vLLM-contract engine simulator (load and capacity tests)
    local_engine.py  the real vLLM engine on the CPU: install, start, stop (tests, demo)
    convert_gguf.py  turns the bundled GGUF model into a Hugging Face folder (install)
    demo.py          ``sovereign-gateway run-local`` (a development plugin of the CLI)
    watermark_scheme.py     the text watermark's keyed green lists (Kirchenbauer et al.), one
                            definition for the engine and the gateway's detector
    watermark_processor.py  the watermark as a vLLM logits processor (the engine's venv)

Only ``profiles.py``, ``perfmodel.py`` and ``watermark_scheme.py`` are read by the gateway
itself; the rest is for development and tests.
"""
