"""The provenance token alone: signing, verifying, tampering, keys, rotation, JWKS, the
decision of who signs, and the offline CLI."""

from __future__ import annotations

from pathlib import Path

import jwt
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import SecretStr, ValidationError

from gateway.cli import build_parser, with_provenance
from gateway.provenance import cli
from gateway.provenance.answer_text import StreamText, whole_text
from gateway.provenance.keys import MAX_PEM_BYTES, KeyRing, ephemeral_key, load_key, private_pem
from gateway.provenance.service import signs
from gateway.provenance.settings import ProvenanceKey
from gateway.provenance.token import PROVENANCE_TYP, Facts, claims_of, sign, verify
from gateway.provenance.verify import Buckets, Verifier, VerifyRequest
from gateway.provenance.watermark import Detection
from gateway.settings import Settings
from policies.model import Policy

FACTS = Facts("req-1", "smollm2", "de-muc", "DE", "de-muc-1", "gw-1", "Acme GmbH", watermark=True)
TEXT = "Die Antwort lautet 42. 🙂"


def _token(text: str = TEXT) -> tuple[str, KeyRing]:
    key = ephemeral_key()
    return sign(key, claims_of(FACTS, text, 1_800_000_000.0)), KeyRing([key])


def test_a_token_verifies_for_exactly_its_text() -> None:
    token, ring = _token()
    verdict = verify(token, TEXT, ring.jwks())
    assert verdict.valid
    assert verdict.claims is not None
    claims = verdict.claims
    assert claims["ai_generated"] is True
    assert (claims["rid"], claims["model"], claims["pool"], claims["jurisdiction"]) == (
        "req-1",
        "smollm2",
        "de-muc",
        "DE",
    )
    assert (claims["iss"], claims["gw"], claims["iat"]) == ("Acme GmbH", "gw-1", 1_800_000_000)
    assert claims["watermark"] is True
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "EdDSA", "kid": ring.signing.kid, "typ": PROVENANCE_TYP}


@pytest.mark.parametrize(
    "changed",
    [TEXT[:-1], TEXT + " ", "die" + TEXT[3:], TEXT.replace("42", "43"), TEXT.replace(".", ",")],
)
def test_one_character_changed_is_invalid(changed: str) -> None:
    token, ring = _token()
    verdict = verify(token, changed, ring.jwks())
    assert not verdict.valid
    assert verdict.reason is not None
    assert "SHA-256" in verdict.reason


def test_a_token_of_another_key_or_tampered_is_invalid() -> None:
    token, ring = _token()
    other = KeyRing([ephemeral_key()])
    assert verify(token, TEXT, other.jwks()).reason == f"unknown key id {_kid(token)!r}"
    # The same kid published with another key: the signature fails.
    impostor = {"keys": [{**other.jwks()["keys"][0], "kid": _kid(token)}]}
    assert not verify(token, TEXT, impostor).valid
    # Claims edited to match another text: the signature fails.
    head, payload, signature = token.split(".")
    claims = orjson.loads(jwt.utils.base64url_decode(payload))
    claims["text_sha256"] = "0" * 64
    forged = ".".join([head, jwt.utils.base64url_encode(orjson.dumps(claims)).decode(), signature])
    assert verify(token, TEXT, ring.jwks()).valid
    assert verify(forged, TEXT, ring.jwks()).reason == (
        "signature does not verify (InvalidSignatureError)"
    )
    assert verify("not-a-token", TEXT, other.jwks()).reason == "not a compact JWS"


def test_a_rotated_key_still_verifies_and_p256_signs() -> None:
    old, new = ephemeral_key(), ephemeral_key()
    token = sign(old, claims_of(FACTS, TEXT, 1_800_000_000.0))
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    p256 = load_key(ProvenanceKey(kid="p256", private_key=SecretStr(pem.decode())))
    ring = KeyRing([p256, new, old])  # rotated twice: the P-256 key signs now
    assert verify(token, TEXT, ring.jwks()).valid
    fresh = sign(ring.signing, claims_of(FACTS, TEXT, 1_800_000_000.0))
    assert jwt.get_unverified_header(fresh)["alg"] == "ES256"
    assert verify(fresh, TEXT, ring.jwks()).valid
    # A key read back from its PEM signs as the original.
    again = load_key(ProvenanceKey(kid=new.kid, private_key=SecretStr(private_pem(new))))
    assert verify(sign(again, claims_of(FACTS, TEXT, 0)), TEXT, ring.jwks()).valid


def test_jwks_has_public_keys_only() -> None:
    key = ephemeral_key()
    (entry,) = KeyRing([key]).jwks()["keys"]
    assert set(entry) == {"kty", "crv", "x", "kid", "use", "alg"}  # no "d": no private part
    assert (entry["kty"], entry["crv"], entry["alg"], entry["use"]) == (
        "OKP",
        "Ed25519",
        "EdDSA",
        "sig",
    )


def test_who_signs() -> None:
    assert signs(None, "off", policy_requires=True)
    assert signs("off", "on", policy_requires=True)  # the policy wins
    assert signs("on", "off", policy_requires=False)
    assert not signs("off", "on", policy_requires=False)
    assert signs(None, "on", policy_requires=False)
    assert not signs(None, "off", False)
    # A policy that does not require it keeps its version; one that does, another.
    plain = Policy(id="p")
    assert plain.version == Policy(id="p", require_provenance=False).version
    assert plain.version != Policy(id="p", require_provenance=True).version


def test_answer_texts() -> None:
    chat = {
        "choices": [
            {"index": 1, "message": {"content": "B"}},
            {"index": 0, "message": {"content": "A", "tool_calls": []}},
        ]
    }
    assert whole_text(orjson.dumps(chat)) == "AB"
    assert whole_text(orjson.dumps({"choices": [{"index": 0, "text": "T"}]})) == "T"
    responses = {"output": [{"type": "message", "content": [{"type": "output_text", "text": "R"}]}]}
    assert whole_text(orjson.dumps(responses)) == "R"
    message = {"type": "message", "content": [{"type": "text", "text": "M"}]}
    assert whole_text(orjson.dumps(message)) == "M"
    assert whole_text(b"[1]") is None
    stream = StreamText()
    for index, piece in [(0, "Hal"), (1, "X"), (0, "lo")]:
        stream.see({"id": "c", "choices": [{"index": index, "delta": {"content": piece}}]})
    assert stream.text() == "HalloX"


def test_buckets() -> None:
    now = [0.0]
    buckets = Buckets(rate=1.0, burst=2, size=2, clock=lambda: now[0])
    assert buckets.take("a") == 0
    assert buckets.take("a") == 0
    assert buckets.take("a") == pytest.approx(1.0)
    assert buckets.take("b") == 0  # its own bucket
    now[0] = 1.0
    assert buckets.take("a") == 0  # refilled


def test_cli_verifies_offline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    token, ring = _token()
    (tmp_path / "jwks.json").write_bytes(orjson.dumps(ring.jwks()))
    (tmp_path / "answer.txt").write_bytes(TEXT.encode())
    (tmp_path / "changed.txt").write_bytes(TEXT.replace("42", "24").encode())
    (tmp_path / "token").write_text(token + "\n")
    jwks = str(tmp_path / "jwks.json")
    parser = build_parser()
    args = ["provenance", "verify", "--token", token, "--jwks", jwks, "--text-file"]
    ok = parser.parse_args([*args, str(tmp_path / "answer.txt")])
    assert ok.func(ok) == 0
    assert orjson.loads(capsys.readouterr().out)["valid"] is True
    bad = parser.parse_args(
        ["provenance", "verify", "--token", f"@{tmp_path / 'token'}", "--jwks", jwks,
         "--text-file", str(tmp_path / "changed.txt")]
    )  # fmt: skip
    assert bad.func(bad) == 1
    assert orjson.loads(capsys.readouterr().out)["valid"] is False
    assert cli.DEFAULT_JWKS.endswith("/.well-known/sovereign-provenance/jwks.json")


def _kid(token: str) -> str:
    kid: str = jwt.get_unverified_header(token)["kid"]
    return kid


def test_quick_mode_signs_with_an_ephemeral_key_unless_one_is_set() -> None:
    made = with_provenance(Settings())
    assert made.provenance.default == "on"
    (key,) = made.provenance.keys
    assert key.kid.startswith("ephemeral-")
    assert load_key(key).kid == key.kid  # a PEM every worker reads back
    pem = private_pem(ephemeral_key())
    configured = Settings(provenance={"keys": [{"kid": "k-2026", "private_key": pem}]})
    kept = with_provenance(configured).provenance
    assert [k.kid for k in kept.keys] == ["k-2026"]
    assert kept.default == "on"


def test_verifier_reports_the_watermark_detectors_result() -> None:
    found = Detection(200, 120, 9.1, 1e-19, True, 4.0, 3.17e-5)
    token, ring = _token()
    verifier = Verifier(ring.jwks, Buckets(1.0, 5), detector=lambda text: found)
    answer = verifier.check(VerifyRequest(text=TEXT, token=token))
    assert answer["token"]["valid"] is True
    assert answer["watermark"] == {
        "tokens_scored": 200,
        "green": 120,
        "z": 9.1,
        "p_value": 1e-19,
        "detected": True,
        "threshold_z": 4.0,
        "false_positive_rate": 3.17e-5,
    }
    plain = Verifier(ring.jwks, Buckets(1.0, 5)).check(VerifyRequest(text=TEXT))
    assert plain["token"] is None
    assert plain["watermark"] is None
    assert plain["watermark_note"]


def test_a_key_is_read_from_a_mounted_file(tmp_path: Path) -> None:
    """The Helm chart mounts the Secret as files: ``private_key_file`` reads the PEM at start."""
    key = ephemeral_key()
    path = tmp_path / "k-2026.pem"
    path.write_text(private_pem(key))
    loaded = load_key(ProvenanceKey(kid="k-2026", private_key_file=str(path)))
    assert loaded.kid == "k-2026"
    assert verify(sign(loaded, claims_of(FACTS, TEXT, 0)), TEXT, KeyRing([loaded]).jwks()).valid
    # The very key of the file: the same public key as the one written.
    assert KeyRing([loaded]).jwks()["keys"][0]["x"] == KeyRing([key]).jwks()["keys"][0]["x"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "set exactly one of private_key, private_key_file"),
        ({"private_key": "x", "private_key_file": "/k.pem"}, "set exactly one"),
    ],
)
def test_a_key_has_exactly_one_source(fields: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ProvenanceKey(kid="k", **fields)


def test_a_missing_or_oversized_key_file_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"cannot read '/nonexistent/k\.pem'"):
        load_key(ProvenanceKey(kid="k", private_key_file="/nonexistent/k.pem"))
    big = tmp_path / "big.pem"
    big.write_bytes(b"x" * (MAX_PEM_BYTES + 1))
    with pytest.raises(ValueError, match="too large"):
        load_key(ProvenanceKey(kid="k", private_key_file=str(big)))
