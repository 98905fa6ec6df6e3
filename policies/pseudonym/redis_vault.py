"""The pseudonym vault in Redis, shared by every gateway replica, encrypted at rest.

One hash per conversation, ``sg:{<tenant>}:pseudonym:<tag>`` (the tenant's hash slot), where
``tag`` is an HMAC of tenant and conversation id (a conversation id may itself carry personal
data). Fields::

    p:<index>   the placeholder, "<PERSON_1>"
    v:<index>   the first surface form: version byte | 12-byte nonce | AES-GCM ciphertext
    n:<ENTITY>  the last number handed out for that entity type

``index`` is HMAC-SHA256 over tenant, conversation, entity type and normalised value: the
index never holds a value, and one person in two conversations gets unrelated indices.
Encryption and index keys are derived from the configured 32-byte key with HKDF. Plaintexts
are padded to 16 bytes, so ciphertext lengths tell little about the values.

The ciphertext's associated data binds tenant, conversation, entity type and index: moved to
another conversation, tenant or slot it fails to decrypt. The placeholder number itself is not
in it, because the number is allocated inside the Lua script, after encryption; binding it
would need a second round trip per new value. A slot's placeholder is checked on reading
instead: its entity type must match the ciphertext's, and no two slots may share it.

Assignment is one ``assign.lua`` call per request (all values at once, atomic); reading is
HGETALL + EXPIRE in one transaction. Any Redis error becomes ``VaultUnavailable``.

The subject index: a set per tenant and data subject, ``sg:{<tenant>}:pseudonym-subject:<tag>``
(``tag`` an HMAC of the ``subject_ref``; the same hash slot as the tenant's conversations),
holding the conversation keys. ``assign.lua`` adds to it and sets its TTL to the vault's in
the same call, so it lives as long as the last assigned-to conversation of the subject in that
tenant. ``mapping`` refreshes the conversation only: one read for longer than the TTL after its
last assign outlives the set (the module docstring of ``vault`` says why that is rare).
``erase_subject`` knows no tenant, so it SCANs for the subject's sets in every tenant (erasure
is rare).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Sequence
from importlib import resources

import structlog
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from policies.pseudonym.placeholders import PLACEHOLDER_RE, check_entity, identity_key
from policies.pseudonym.vault import DEFAULT_TTL_S, VaultUnavailable

log = structlog.get_logger("policies.pseudonym")

_VERSION = b"\x01"
_AAD_LABEL = b"sg-pseudonym/1"
_NONCE = 12
_BLOCK = 16


def _derive(key: bytes, purpose: bytes) -> bytes:
    return HKDF(
        hashes.SHA256(), 32, salt=None, info=b"sovereign-gateway/pseudonym/" + purpose
    ).derive(key)


def _frame(*parts: str) -> bytes:
    """Length-prefixed parts: no choice of tenant or conversation id can forge another's."""
    out = bytearray()
    for part in parts:
        data = part.encode()
        out += len(data).to_bytes(4, "big") + data
    return bytes(out)


def _pad(data: bytes) -> bytes:
    """ISO/IEC 7816-4 padding to a multiple of 16 bytes."""
    data += b"\x80"
    return data + b"\0" * (-len(data) % _BLOCK)


def _unpad(data: bytes) -> bytes:
    body = data.rstrip(b"\0")
    if not body.endswith(b"\x80"):
        raise ValueError("bad padding")
    return body[:-1]


class RedisPseudonymVault:
    def __init__(
        self, client: Redis | RedisCluster, key: bytes, ttl_seconds: int = DEFAULT_TTL_S
    ) -> None:
        if len(key) != 32:
            raise ValueError("the pseudonym vault key must be 32 bytes")
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        self._redis = client
        self._ttl = int(ttl_seconds)
        self._aead = AESGCM(_derive(key, b"encryption"))
        self._index_key = _derive(key, b"index")
        source = resources.files("policies.pseudonym").joinpath("assign.lua").read_text()
        self._assign = client.register_script(source)

    def conversation_key(self, tenant: str, conversation: str) -> str:
        tag = self._mac(b"conversation", _frame(tenant, conversation))[:32]
        return f"sg:{{{tenant}}}:pseudonym:{tag}"

    def subject_key(self, tenant: str, subject_ref: str) -> str:
        """The set of the subject's conversation keys in that tenant."""
        return f"sg:{{{tenant}}}:pseudonym-subject:{self._subject_tag(subject_ref)}"

    async def assign(
        self,
        tenant: str,
        conversation: str,
        items: Sequence[tuple[str, str]],
        subject_ref: str | None = None,
    ) -> list[str]:
        if not items:
            return []
        keys = [self.conversation_key(tenant, conversation)]
        if subject_ref is not None:
            keys.append(self.subject_key(tenant, subject_ref))
        args: list[str | bytes | int] = [self._ttl]
        for entity, value in items:
            index = self._index(tenant, conversation, check_entity(entity), value)
            args += [index, entity, self._seal(tenant, conversation, entity, index, value)]
        try:
            names = await self._assign(keys=keys, args=args)
        except RedisError as exc:
            raise VaultUnavailable("the pseudonym vault cannot be reached") from exc
        return [n.decode() if isinstance(n, bytes) else str(n) for n in names]

    async def mapping(self, tenant: str, conversation: str) -> dict[str, str]:
        key = self.conversation_key(tenant, conversation)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.hgetall(key)
                pipe.expire(key, self._ttl)
                fields, _ = await pipe.execute()
        except RedisError as exc:
            raise VaultUnavailable("the pseudonym vault cannot be reached") from exc
        return self._open_all(tenant, conversation, fields)

    async def erase(self, tenant: str, conversation: str) -> bool:
        try:
            return bool(await self._redis.delete(self.conversation_key(tenant, conversation)))
        except RedisError as exc:
            raise VaultUnavailable("the pseudonym vault cannot be reached") from exc

    async def erase_subject(self, subject_ref: str) -> int:
        match = f"sg:{{*}}:pseudonym-subject:{self._subject_tag(subject_ref)}"
        erased = 0
        try:
            sets = [k async for k in self._redis.scan_iter(match=match, count=1000)]
            for subject_key in sets:
                members = list(await self._redis.smembers(subject_key))
                if not members:
                    continue
                # SREM rather than DEL of the set: a conversation added by an assign running
                # meanwhile stays indexed, so a repeated erasure still finds it.
                async with self._redis.pipeline(transaction=True) as pipe:
                    pipe.delete(*members)
                    pipe.srem(subject_key, *members)
                    deleted, _ = await pipe.execute()
                erased += int(deleted)
        except RedisError as exc:
            raise VaultUnavailable("the pseudonym vault cannot be reached") from exc
        return erased

    def _subject_tag(self, subject_ref: str) -> str:
        return self._mac(b"subject", subject_ref.encode())[:32]

    def _mac(self, purpose: bytes, message: bytes) -> str:
        return hmac.new(self._index_key, purpose + message, hashlib.sha256).hexdigest()

    def _index(self, tenant: str, conversation: str, entity: str, value: str) -> str:
        identity = identity_key(entity, value)
        return self._mac(b"value", _frame(tenant, conversation, entity, identity))

    def _seal(self, tenant: str, conversation: str, entity: str, index: str, value: str) -> bytes:
        nonce = os.urandom(_NONCE)
        aad = _AAD_LABEL + _frame(tenant, conversation, entity, index)
        return _VERSION + nonce + self._aead.encrypt(nonce, _pad(value.encode()), aad)

    def _open_slot(
        self, tenant: str, conversation: str, index: bytes, name: bytes, fields: dict[bytes, bytes]
    ) -> tuple[str, str]:
        """(placeholder, value) of one slot; ``InvalidTag``/``ValueError`` if unreadable."""
        placeholder = name.decode()
        if PLACEHOLDER_RE.fullmatch(placeholder) is None:
            raise ValueError("not a placeholder")
        blob = fields.get(b"v:" + index, b"")
        if blob[:1] != _VERSION:
            raise ValueError("missing value or unknown ciphertext version")
        nonce, sealed = blob[1 : 1 + _NONCE], blob[1 + _NONCE :]
        # The entity type comes from the placeholder: relabelled, it no longer decrypts.
        entity = placeholder[1 : placeholder.rindex("_")]
        aad = _AAD_LABEL + _frame(tenant, conversation, entity, index.decode())
        return placeholder, _unpad(self._aead.decrypt(nonce, sealed, aad)).decode()

    def _open_all(
        self, tenant: str, conversation: str, fields: dict[bytes, bytes]
    ) -> dict[str, str]:
        out: dict[str, str] = {}
        rejected = 0
        shared: set[str] = set()
        for field, raw in fields.items():
            if not field.startswith(b"p:"):
                continue
            try:
                name, value = self._open_slot(tenant, conversation, field[2:], raw, fields)
            except (InvalidTag, ValueError):  # another key (rotated?), or tampered with
                rejected += 1
                continue
            if name in out:  # never written so: the slots were tampered with
                shared.add(name)
            out[name] = value
        for name in shared:
            del out[name]
        rejected += len(shared)
        if rejected:
            # Placeholders without a value stay as they are in the output: degraded, no leak.
            log.warning("pseudonym_entries_unreadable", tenant=tenant, count=rejected)
        return out
