"""The pseudonym vault on the real Redis at 127.0.0.1:6379.

Two vault instances on two clients stand for two gateway replicas. Every test uses its own
tenant ids, and the Redis keys of those tenants are deleted afterwards.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import cast

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from structlog.testing import capture_logs

from policies import entities as e
from policies.pseudonym.redis_vault import RedisPseudonymVault
from policies.pseudonym.vault import VaultUnavailable
from tests.servers import free_port

REDIS_URL = "redis://127.0.0.1:6379/0"
TTL = 3600


@dataclass
class Replicas:
    first: RedisPseudonymVault
    second: RedisPseudonymVault
    redis: Redis
    key: bytes
    tenants: list[str] = field(default_factory=list)

    def new_tenant(self) -> str:
        tenant = "test-" + uuid.uuid4().hex
        self.tenants.append(tenant)
        return tenant

    async def raw(self, tenant: str) -> dict[bytes, dict[bytes, bytes]]:
        """Every key of the tenant with its hash fields, as stored."""
        keys = [k async for k in self.redis.scan_iter(match=f"sg:{{{tenant}}}:*")]
        # Without decode_responses, replies are bytes (the stubs also allow str).
        return {k: cast(dict[bytes, bytes], await self.redis.hgetall(k)) for k in keys}

    async def subject_sets(self, subject_ref: str) -> list[bytes]:
        """The subject's index sets, in any tenant (the raw ref is not in their names)."""
        tag = self.first.subject_key("", subject_ref).rsplit(":", 1)[1]
        match = f"sg:{{*}}:pseudonym-subject:{tag}"
        return [k async for k in self.redis.scan_iter(match=match, count=1000)]


@pytest.fixture
async def replicas() -> AsyncIterator[Replicas]:
    first, second = Redis.from_url(REDIS_URL), Redis.from_url(REDIS_URL)
    key = os.urandom(32)
    made = Replicas(
        RedisPseudonymVault(first, key, TTL), RedisPseudonymVault(second, key, TTL), first, key
    )
    try:
        yield made
    finally:
        for tenant in made.tenants:
            keys = [k async for k in first.scan_iter(match=f"sg:{{{tenant}}}:*")]
            if keys:
                await first.delete(*keys)
        await first.aclose()
        await second.aclose()


async def test_placeholders_are_stable_across_turns_and_replicas(replicas: Replicas) -> None:
    tenant = replicas.new_tenant()
    first = await replicas.first.assign(
        tenant,
        "conv",
        [
            (e.PERSON, "Max Müller"),
            (e.IBAN, "DE89 3704 0044 0532 0130 00"),
            (e.PERSON, "Erika Mustermann"),
            (e.DE_TAX_ID, "12345678901"),
            (e.DE_TAX_ID, "98765432109"),
            (e.PERSON, "Max Müller"),
        ],
    )
    assert first == [
        "<PERSON_1>",
        "<IBAN_1>",
        "<PERSON_2>",
        "<DE_TAX_ID_1>",
        "<DE_TAX_ID_2>",
        "<PERSON_1>",
    ]
    # The next turn, on the other replica, with other surface forms of the same values.
    second = await replicas.second.assign(
        tenant,
        "conv",
        [
            (e.DE_TAX_ID, "987 654 321 09"),
            (e.PERSON, "Hans Meier"),
            (e.IBAN, "de89370400440532013000"),
            (e.PERSON, "max  müller"),
        ],
    )
    assert second == ["<DE_TAX_ID_2>", "<PERSON_3>", "<IBAN_1>", "<PERSON_1>"]
    expected = {
        "<PERSON_1>": "Max Müller",
        "<PERSON_2>": "Erika Mustermann",
        "<PERSON_3>": "Hans Meier",
        "<IBAN_1>": "DE89 3704 0044 0532 0130 00",
        "<DE_TAX_ID_1>": "12345678901",
        "<DE_TAX_ID_2>": "98765432109",
    }
    assert await replicas.first.mapping(tenant, "conv") == expected
    assert await replicas.second.mapping(tenant, "conv") == expected
    # One hash per conversation, in the tenant's hash slot.
    assert len(await replicas.raw(tenant)) == 1


async def test_conversations_and_tenants_do_not_share_placeholders(replicas: Replicas) -> None:
    tenant, other = replicas.new_tenant(), replicas.new_tenant()
    assert await replicas.first.assign(tenant, "a", [(e.PERSON, "Anna")]) == ["<PERSON_1>"]
    assert await replicas.first.assign(tenant, "b", [(e.PERSON, "Berta")]) == ["<PERSON_1>"]
    assert await replicas.first.assign(other, "a", [(e.PERSON, "Carla")]) == ["<PERSON_1>"]
    assert await replicas.second.mapping(tenant, "a") == {"<PERSON_1>": "Anna"}
    assert await replicas.second.mapping(tenant, "b") == {"<PERSON_1>": "Berta"}
    assert await replicas.second.mapping(other, "a") == {"<PERSON_1>": "Carla"}
    assert await replicas.second.mapping(other, "b") == {}
    assert await replicas.raw(other) != {}
    assert await replicas.first.assign(tenant, "a", []) == []


async def test_two_replicas_assigning_concurrently_never_conflict(replicas: Replicas) -> None:
    tenant = replicas.new_tenant()
    people = [f"Person Nummer {i}" for i in range(40)]
    ibans = [f"DE{i:02d} 1234 5678 9012 3456 78" for i in range(10)]

    def request(i: int) -> list[tuple[str, str]]:
        items = [(e.PERSON, people[(i * 7 + j) % 40]) for j in range(4)]
        return [*items, (e.IBAN, ibans[i % 10]), (e.PERSON, people[(i * 3) % 40].upper())]

    calls = [
        (replicas.first if i % 2 else replicas.second).assign(tenant, "conv", request(i))
        for i in range(120)
    ]
    results = await asyncio.gather(*calls)
    given: dict[tuple[str, str], str] = {}
    for i, names in enumerate(results):
        for (entity, value), name in zip(request(i), names, strict=True):
            # One value, one placeholder (upper-case names are the same person).
            assert given.setdefault((entity, value.casefold()), name) == name
    assert len(set(given.values())) == len(given) == 50  # different values, different names
    persons = sorted(n for n in given.values() if n.startswith("<PERSON_"))
    assert persons == sorted(f"<PERSON_{n}>" for n in range(1, 41))
    mapping = await replicas.second.mapping(tenant, "conv")
    assert set(mapping) == set(given.values())
    for (_, value), name in given.items():
        assert mapping[name].casefold() == value


async def test_the_ttl_is_set_and_refreshed_on_use(replicas: Replicas) -> None:
    tenant = replicas.new_tenant()
    await replicas.first.assign(tenant, "conv", [(e.EMAIL_ADDRESS, "anna@example.de")])
    [key] = await replicas.raw(tenant)
    assert TTL - 5 <= await replicas.redis.ttl(key) <= TTL
    await replicas.redis.expire(key, 30)  # as if most of the TTL had passed
    await replicas.second.mapping(tenant, "conv")
    assert await replicas.redis.ttl(key) > 30
    await replicas.redis.expire(key, 30)
    await replicas.second.assign(tenant, "conv", [(e.EMAIL_ADDRESS, "ANNA@example.de")])
    assert await replicas.redis.ttl(key) > 30
    await replicas.redis.pexpire(key, 50)
    await asyncio.sleep(0.2)
    assert await replicas.first.mapping(tenant, "conv") == {}
    assert await replicas.raw(tenant) == {}  # reading an expired conversation creates nothing


async def test_nothing_in_redis_reveals_a_value_or_the_conversation(replicas: Replicas) -> None:
    tenant = replicas.new_tenant()
    conversation = "chat-with-max-mueller"
    values = [
        (e.PERSON, "Max Mueller"),
        (e.EMAIL_ADDRESS, "Max.Mueller@example.de"),
        (e.IBAN, "DE89 3704 0044 0532 0130 00"),
        (e.PHONE_NUMBER, "+49 171 1234567"),
        (e.SECRET, "sk-live-abcdef0123456789"),
    ]
    await replicas.first.assign(tenant, conversation, values)
    stored = await replicas.raw(tenant)
    blob = b"\n".join(
        [k for k in stored] + [b for fields in stored.values() for kv in fields.items() for b in kv]
    ).lower()
    forms = ["mueller", "de89", "370400440532013000", "1711234567", "abcdef0123456789"]
    for form in forms:
        assert form.encode() not in blob
    assert b"chat-with" not in blob
    # Only placeholders, HMAC indices, ciphertexts and counters are there.
    [fields] = stored.values()
    assert sorted(f[:2] for f in fields) == [b"n:"] * 5 + [b"p:"] * 5 + [b"v:"] * 5
    # Ciphertexts are padded: their lengths say little about the values.
    assert {len(v) % 16 for f, v in fields.items() if f.startswith(b"v:")} == {(1 + 12) % 16}


async def test_a_wrong_key_or_a_moved_ciphertext_decrypts_nothing(replicas: Replicas) -> None:
    tenant, other = replicas.new_tenant(), replicas.new_tenant()
    await replicas.first.assign(tenant, "conv", [(e.PERSON, "Max Mueller")])
    [key] = await replicas.raw(tenant)
    stranger = RedisPseudonymVault(replicas.redis, os.urandom(32), TTL)
    targets = [
        (stranger, tenant, "conv"),  # another key
        (replicas.first, tenant, "elsewhere"),  # another conversation
        (replicas.first, other, "conv"),  # another tenant
    ]
    for vault, into_tenant, into_conversation in targets:
        target = vault.conversation_key(into_tenant, into_conversation)
        assert target.encode() != key
        await replicas.redis.copy(key.decode(), target, replace=True)
        with capture_logs() as logs:
            assert await vault.mapping(into_tenant, into_conversation) == {}
        assert [log["event"] for log in logs] == ["pseudonym_entries_unreadable"]
        assert logs[0]["count"] == 1
        assert "Mueller" not in repr(logs)  # never a value in the logs
    assert await replicas.second.mapping(tenant, "conv") == {"<PERSON_1>": "Max Mueller"}


async def test_a_relabelled_slot_is_refused(replicas: Replicas) -> None:
    tenant = replicas.new_tenant()
    items = [
        (e.PERSON, "Anna"),
        (e.IBAN, "DE89370400440532013000"),
        (e.IBAN, "DE02120300000000202051"),
    ]
    await replicas.first.assign(tenant, "conv", items)
    [(key, fields)] = (await replicas.raw(tenant)).items()
    slot = {v: f for f, v in fields.items() if f.startswith(b"p:")}
    # Another entity type: the ciphertext's associated data no longer matches.
    await replicas.redis.hset(key, slot[b"<PERSON_1>"], b"<IBAN_7>")
    assert await replicas.first.mapping(tenant, "conv") == {
        "<IBAN_1>": "DE89370400440532013000",
        "<IBAN_2>": "DE02120300000000202051",
    }
    # Two slots claiming one placeholder: neither is trusted.
    await replicas.redis.hset(key, slot[b"<IBAN_2>"], b"<IBAN_1>")
    assert await replicas.first.mapping(tenant, "conv") == {}


async def test_erase_removes_the_conversation(replicas: Replicas) -> None:
    tenant = replicas.new_tenant()
    await replicas.first.assign(tenant, "conv", [(e.PERSON, "Anna")])
    await replicas.first.assign(tenant, "kept", [(e.PERSON, "Berta")])
    assert await replicas.second.erase(tenant, "conv") is True
    assert await replicas.second.erase(tenant, "conv") is False
    assert await replicas.first.mapping(tenant, "conv") == {}
    assert len(await replicas.raw(tenant)) == 1
    assert await replicas.first.mapping(tenant, "kept") == {"<PERSON_1>": "Berta"}
    # A new conversation under the erased id starts afresh.
    assert await replicas.first.assign(tenant, "conv", [(e.PERSON, "Carla")]) == ["<PERSON_1>"]


async def test_erase_subject_erases_its_conversations_in_every_tenant(
    replicas: Replicas,
) -> None:
    tenant, other = replicas.new_tenant(), replicas.new_tenant()
    subject, stranger = uuid.uuid4().hex * 2, uuid.uuid4().hex * 2
    anna = [(e.PERSON, "Anna")]
    await replicas.first.assign(tenant, "a", anna, subject_ref=subject)
    await replicas.second.assign(tenant, "b", anna, subject)
    await replicas.second.assign(other, "a", anna, subject_ref=subject)
    await replicas.first.assign(other, "a", [(e.PERSON, "Berta")])  # a turn without it
    await replicas.first.assign(tenant, "c", [(e.PERSON, "Carla")], subject_ref=stranger)
    await replicas.second.assign(tenant, "d", [(e.PERSON, "Dora")])
    await replicas.first.assign(other, "gone", anna, subject_ref=subject)
    await replicas.redis.delete(replicas.first.conversation_key(other, "gone"))  # as if expired
    # One set per tenant, in the tenant's hash slot, holding conversation keys only.
    sets = {replicas.first.subject_key(t, subject).encode() for t in (tenant, other)}
    assert set(await replicas.subject_sets(subject)) == sets
    assert subject.encode() not in b"".join(sets)
    assert await replicas.redis.smembers(replicas.second.subject_key(tenant, subject)) == {
        replicas.first.conversation_key(tenant, c).encode() for c in ("a", "b")
    }
    for key in sets:
        assert 0 < await replicas.redis.ttl(key) <= TTL

    assert await replicas.second.erase_subject(subject) == 3  # "gone" was gone already
    for t, conversation in [(tenant, "a"), (tenant, "b"), (other, "a")]:
        assert await replicas.first.mapping(t, conversation) == {}
    assert await replicas.first.mapping(tenant, "c") == {"<PERSON_1>": "Carla"}
    assert await replicas.first.mapping(tenant, "d") == {"<PERSON_1>": "Dora"}
    assert await replicas.subject_sets(subject) == []
    assert len(await replicas.subject_sets(stranger)) == 1
    assert await replicas.first.erase_subject(subject) == 0
    assert await replicas.first.erase_subject(uuid.uuid4().hex) == 0
    assert await replicas.first.erase_subject(stranger) == 1
    assert await replicas.subject_sets(stranger) == []


async def test_every_assign_refreshes_the_subject_index_ttl(replicas: Replicas) -> None:
    tenant, subject = replicas.new_tenant(), uuid.uuid4().hex
    await replicas.first.assign(tenant, "conv", [(e.PERSON, "Anna")], subject_ref=subject)
    key = replicas.first.subject_key(tenant, subject)
    assert TTL - 5 <= await replicas.redis.ttl(key) <= TTL
    await replicas.redis.expire(key, 30)
    await replicas.second.mapping(tenant, "conv")
    assert await replicas.redis.ttl(key) <= 30  # reading refreshes the conversation only
    await replicas.second.assign(tenant, "conv", [(e.PERSON, "Anna")], subject_ref=subject)
    assert await replicas.redis.ttl(key) > 30
    assert await replicas.first.assign(tenant, "other", [], subject_ref=subject) == []
    assert await replicas.redis.smembers(key) == {
        replicas.first.conversation_key(tenant, "conv").encode()
    }


async def test_redis_down_raises_vault_unavailable() -> None:
    closed = Redis(
        host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)
    )
    vault = RedisPseudonymVault(closed, os.urandom(32), TTL)
    try:
        with pytest.raises(VaultUnavailable):
            await vault.assign("t", "c", [(e.PERSON, "Anna")])
        with pytest.raises(VaultUnavailable):
            await vault.mapping("t", "c")
        with pytest.raises(VaultUnavailable):
            await vault.erase("t", "c")
        with pytest.raises(VaultUnavailable):
            await vault.assign("t", "c", [(e.PERSON, "Anna")], subject_ref="ab" * 16)
        with pytest.raises(VaultUnavailable):
            await vault.erase_subject("ab" * 16)
    finally:
        await closed.aclose()


async def test_the_key_must_be_32_bytes_and_the_ttl_positive() -> None:
    client = Redis.from_url(REDIS_URL)
    try:
        with pytest.raises(ValueError, match="32 bytes"):
            RedisPseudonymVault(client, b"short", TTL)
        with pytest.raises(ValueError, match="positive"):
            RedisPseudonymVault(client, os.urandom(32), 0)
    finally:
        await client.aclose()
