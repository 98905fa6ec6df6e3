"""The watermark's logits processor inside the engine's own environment (torch, vLLM 0.32),
driven through vLLM's batch updates as the engine drives it, without starting an engine.

Requests without the switch keep their logits bit for bit (vLLM's adapter skips the batch
when no request is marked); a marked request's row gains exactly ``delta`` on the green list
that the detector computes (``WatermarkScheme.is_green``), for the context of its last
output token, or of its prompt's last token before the first output token. An engine
without a key refuses requests that ask for the watermark."""

from __future__ import annotations

import json
import subprocess

import pytest

from serving.local_engine import CLONE_ROOT, EnginePaths, engine_env, engine_home
from serving.watermark_scheme import WatermarkScheme

SCHEME = WatermarkScheme(key=b"processor test key 0123456789", delta=2.0)
VOCAB = 4096

# Runs in the engine's interpreter; prints what the parent checks.
SCRIPT = """
import json, os, torch
from vllm import SamplingParams
from vllm.v1.sample.logits_processor import BatchUpdate
from serving.watermark_processor import WatermarkLogitsProcessor

proc = WatermarkLogitsProcessor(None, torch.device("cpu"), False)
WatermarkLogitsProcessor.validate_params(SamplingParams(extra_args={"sovereign_watermark": 1}))
off, on = SamplingParams(), SamplingParams(extra_args={"sovereign_watermark": 1})
off_out, on_out = [5, 6], []
proc.update_state(BatchUpdate(2, [], [(0, off, [1, 2], off_out), (1, on, [3, 4], on_out)], []))
torch.manual_seed(0)
logits = torch.randn(2, %(vocab)d)
before = logits.clone()
after = proc.apply(logits)
first = (after[1] - before[1]).tolist()
on_out.append(9)  # the engine appends sampled tokens to the live list
logits = before.clone()
second = (proc.apply(logits)[1] - before[1]).tolist()
lone = WatermarkLogitsProcessor(None, torch.device("cpu"), False)
lone.update_state(BatchUpdate(1, [], [(0, off, [1], [])], []))
untouched = lone.apply(before) is before
del os.environ["SOVEREIGN_WATERMARK_KEY"]
WatermarkLogitsProcessor.validate_params(SamplingParams())  # off: fine without a key
try:
    WatermarkLogitsProcessor.validate_params(on)
    refused = ""
except ValueError as exc:
    refused = str(exc)
print(json.dumps({"refused": refused,
    "off_identical": bool(torch.equal(after[0], before[0])),
    "first": first, "second": second, "untouched": untouched,
    "argmax_invariant": proc.is_argmax_invariant(),
}))
"""


def test_the_processor_marks_only_requests_that_ask_and_as_the_detector_expects() -> None:
    paths = EnginePaths(engine_home())
    if not paths.installed():
        pytest.fail(f"the vLLM engine is not installed in {paths.home}: run `make install`")
    env = {**engine_env(), **SCHEME.engine_env(), "PYTHONPATH": str(CLONE_ROOT)}
    result = subprocess.run(
        [str(paths.python), "-c", SCRIPT % {"vocab": VOCAB}],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    # An engine without a key refuses a request for the watermark (HTTP 400 in the server).
    assert "this engine has no watermark key" in seen["refused"]
    assert seen["off_identical"]
    assert seen["untouched"]
    assert not seen["argmax_invariant"]
    # Before its first output token the context is the prompt's last token (4), then 9.
    for context, added in ((4,), seen["first"]), ((9,), seen["second"]):
        expected = [SCHEME.delta if SCHEME.is_green(context, t) else 0.0 for t in range(VOCAB)]
        assert added == pytest.approx(expected, abs=1e-5)
