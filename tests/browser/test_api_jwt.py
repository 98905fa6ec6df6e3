"""Bearer JWTs from a real IdP as the openai SDK's api_key: a client_credentials access token
of the tenant's machine client works against the real engine; a tampered one, an unsigned
one and one signed by a key the IdP never published get 401 (openai.AuthenticationError), and
so does a genuine token for a tenant that does not accept the issuer."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import openai
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.browser.conftest import OTHER_MACHINE, ConsoleStack

pytestmark = pytest.mark.engine  # the stack's gateway is in front of the real engine


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _with_claims(token: str, **claims: object) -> str:
    """The token with its payload changed and its signature kept (no longer matching)."""
    header, payload, signature = token.split(".")
    changed = {**json.loads(_unb64(payload)), **claims}
    return ".".join([header, _b64(json.dumps(changed).encode()), signature])


def _signed_by_a_stranger(token: str) -> str:
    """The same header (kid included) and claims, signed with a key the IdP never had."""
    header, payload, _ = token.split(".")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signature = key.sign(f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{header}.{payload}.{_b64(signature)}"


def _unsigned(token: str) -> str:
    header = {**json.loads(_unb64(token.split(".")[0])), "alg": "none"}
    return f"{_b64(json.dumps(header).encode())}.{token.split('.')[1]}."


def _chat(stack: ConsoleStack, api_key: str) -> str:
    answer = stack.client(api_key).chat.completions.create(
        model=stack.model,
        messages=[{"role": "user", "content": "Say hello."}],
        max_tokens=4,
    )
    return answer.choices[0].message.content or ""


def test_a_machine_token_of_the_idp_is_an_api_key(stack: ConsoleStack) -> None:
    assert _chat(stack, stack.idp.machine_token())


def test_a_tenant_that_names_no_issuer_refuses_its_genuine_tokens(stack: ConsoleStack) -> None:
    with pytest.raises(openai.AuthenticationError):
        _chat(stack, stack.idp.machine_token(OTHER_MACHINE))


@pytest.mark.parametrize(
    "forge",
    [
        lambda t: _with_claims(t, sg_tenant="someone-else"),
        lambda t: _with_claims(t, exp=4_102_444_800),  # a longer life, by hand
        _signed_by_a_stranger,
        _unsigned,
        lambda t: t[:-4] + ("AAAA" if not t.endswith("AAAA") else "BBBB"),
    ],
    ids=["claims-changed", "expiry-extended", "foreign-key", "alg-none", "signature-cut"],
)
def test_a_tampered_token_gets_401(stack: ConsoleStack, forge: Callable[[str], str]) -> None:
    forged = forge(stack.idp.machine_token())
    with pytest.raises(openai.AuthenticationError):
        _chat(stack, forged)


def test_tokens_signed_after_a_key_rotation_work(stack: ConsoleStack) -> None:
    before = stack.idp.machine_token()
    stack.idp.rotate_keys()
    after = stack.idp.machine_token()
    assert (
        json.loads(_unb64(after.split(".")[0]))["kid"]
        != json.loads(_unb64(before.split(".")[0]))["kid"]
    )
    assert _chat(stack, after)
    assert _chat(stack, before)  # the old key is still published: its tokens still verify
