from __future__ import annotations

import base64

import pytest

from gateway.auth import KeyRing, hash_key
from gateway.cli import _dump_with_secrets, build_parser, check_replicas, main, quick_settings
from gateway.core.tenant import Principal
from gateway.settings import Settings
from gateway.topology import Tenant, Topology
from serving.profiles import LLAMA_8B, LLAMA_70B, PROFILES


def test_keys_new_prints_a_key_and_its_hash(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "new"]) == 0
    out = capsys.readouterr().out.splitlines()
    key = out[0].removeprefix("key:  ")
    assert out[1] == "hash: " + hash_key(key)


def test_keys_hash_with_pepper(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOVEREIGN_SECURITY__KEY_PEPPER", "pep")
    main(["keys", "hash", "abc"])
    assert capsys.readouterr().out.strip() == hash_key("abc", b"pep")


def test_quick_mode_is_one_de_pool_and_one_tenant_holding_only_a_hash() -> None:
    settings = quick_settings("http://127.0.0.1:8011", "sk-quick-1", ["smollm2"], port=9000)
    topology = Topology.from_settings(settings)
    assert [(p.jurisdiction, p.models) for p in topology.pools] == [("DE", frozenset({"smollm2"}))]
    assert settings.server.port == 9000
    assert "sk-quick-1" not in settings.model_dump_json()
    tenant = Tenant("default", frozenset({"DE"}), None)
    entries = [(settings.tenants[0].api_keys[0].hash, Principal(tenant, "cli"))]
    assert KeyRing(entries, None).authenticate("Bearer sk-quick-1").key_id == "cli"
    assert settings.privacy.default_policy == "gdpr-default"  # filtering on unless told
    strict = quick_settings("http://e:8000", "sk-q", ["m"], "public-sector-strict")
    assert strict.privacy.default_policy == "public-sector-strict"
    assert quick_settings("http://e:8000", "sk-q", ["m"], None).privacy.default_policy is None


def test_keys_vault_prints_a_32_byte_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["keys", "vault"]) == 0
    assert len(base64.b64decode(capsys.readouterr().out.strip(), validate=True)) == 32


def test_serve_needs_a_config_or_an_engine_and_key() -> None:
    args = build_parser().parse_args(["serve"])
    with pytest.raises(SystemExit, match="--config FILE"):
        args.func(args)


def test_profiles_cover_the_gpu_classes_and_model_sizes() -> None:
    for gpu in ("b200", "rtx-pro-6000", "h100"):
        for model in ("llama-3.1-8b", "llama-3.3-70b"):
            assert f"{gpu}/{model}" in PROFILES


def test_kv_arithmetic_matches_the_documented_figures() -> None:
    assert LLAMA_8B.kv_bytes_per_token(1) == 64 * 1024
    assert LLAMA_70B.kv_bytes_per_token(1) == 160 * 1024
    b200_8b = PROFILES["b200/llama-3.1-8b"].kv_cache_tokens()
    assert 1.8e6 < b200_8b < 2.2e6  # "about 2 M KV tokens" in its reasons
    # Every profile leaves room for at least its max-num-seqs sequences of 1k tokens.
    for profile in PROFILES.values():
        assert profile.kv_cache_tokens() >= profile.max_num_seqs * 1024, profile.key


def test_vllm_args_carry_the_profile() -> None:
    args = PROFILES["rtx-pro-6000/llama-3.3-70b"].vllm_args("/models/llama70b")
    assert args[:3] == ["vllm", "serve", "/models/llama70b"]

    def flag(name: str) -> str:
        return args[args.index(name) + 1]

    assert flag("--tensor-parallel-size") == "2"
    assert flag("--quantization") == "fp8"
    assert flag("--max-num-seqs") == "128"
    assert "--enable-prefix-caching" in args


def test_worker_processes_get_the_settings_with_their_secrets() -> None:
    settings = Settings(
        security={"key_pepper": "pepper"},
        pools=[{"name": "p", "jurisdiction": "DE", "site": "s", "engines": ["http://e:1"],
                "models": ["m"], "api_key": "engine-key"}],
    )  # fmt: skip
    rebuilt = Settings.model_validate(_dump_with_secrets(settings))
    assert rebuilt == settings
    assert rebuilt.pools[0].api_key is not None
    assert rebuilt.pools[0].api_key.get_secret_value() == "engine-key"


def test_several_workers_without_redis_are_refused_when_limits_need_sharing() -> None:
    tenant = {"id": "t", "api_keys": [{"id": "k", "hash": hash_key("x")}]}
    check_replicas(Settings(server={"workers": 2}, tenants=[tenant]))  # nothing to share
    limited = {**tenant, "limits": {"requests_per_minute": 10}}
    with pytest.raises(SystemExit, match="share nothing without Redis"):
        check_replicas(Settings(server={"workers": 2}, tenants=[limited]))
    check_replicas(Settings(server={"workers": 1}, tenants=[limited]))
    check_replicas(
        Settings(server={"workers": 2}, store={"redis_url": "redis://r:6379/0"}, tenants=[limited])
    )
