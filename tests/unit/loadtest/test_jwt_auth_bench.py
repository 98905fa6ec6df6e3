"""The JWT benchmark's plumbing, in a tiny real run (no timing asserted): the simulator and the
gateways it starts serve every phase (an API key, RS256 and ES256 tokens reused and fresh)
without a failure, the cache off and on when the verifier has one, the keys read from the
local IdP, and the in-process figures are all there."""

from __future__ import annotations

import json
from pathlib import Path

from loadtest.jwt_auth import has_cache, main


def test_a_tiny_run_serves_every_phase_and_writes_its_figures(tmp_path: Path) -> None:
    out = tmp_path / "jwt.json"
    argv = ["--requests", "60", "--rounds", "1", "--concurrency", "4", "--micro-calls", "5"]
    assert main([*argv, "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    gateways = ["cache off", "cache on"] if has_cache() else [""]
    phases = {(r["gateway"], r["credential"], r["fresh"]) for r in result["summary"]}
    assert phases == {
        (g, c, fresh)
        for g in gateways
        for c, fresh in [("key", False), ("RS256", False), ("ES256", False),
                         ("RS256", True), ("ES256", True)]
    }  # fmt: skip
    assert all(r["requests"] == 60 and r["failures"] == 0 for r in result["summary"])
    # The gateways' CPU is read (psutil counts in 10 ms ticks: a tiny phase may read 0).
    assert sum(r["cpu_us"] for r in result["summary"]) > 0
    assert result["jwks_reads"] >= len(gateways)  # each gateway read the keys itself
    micro = result["micro_us"]
    assert "KeyRing.authenticate() (API key)" in micro
    assert {"signature only RS256 (cryptography)", "signature only ES256 (cryptography)"} <= set(
        micro
    )
    verifies = [name for name in micro if name.startswith("TokenVerifier.verify()")]
    assert len(verifies) == (4 if has_cache() else 2)
