"""The pseudonym vault: per tenant and conversation, which placeholder stands for which value.

``PseudonymVault`` is the seam; ``MemoryPseudonymVault`` serves an embedded, single-process
gateway and ``redis_vault.RedisPseudonymVault`` every replica at once. Both keep these rules:

- a value keeps its placeholder for the life of the conversation (identity as decided by
  ``placeholders.identity_key``, per entity type), and two values never share one;
- numbers count from 1 per entity type within the conversation;
- ``mapping`` gives each placeholder the first surface form seen for it;
- a conversation expires ``ttl_seconds`` after its last use (assign or mapping);
- the store failing raises ``VaultUnavailable`` and nothing else.

The subject index serves erasure (GDPR Art. 17), which names only the data subject (its
``subject_ref``, an opaque HMAC of the end user's id), neither tenant nor conversation: an
``assign`` given a ``subject_ref`` records the conversation under that subject, for the
conversation's TTL, refreshed by every such assign; ``erase_subject`` deletes them all.
Known limit: ``mapping`` refreshes only the conversation, so one read but not assigned to for
longer than the TTL may outlive its index entry (the Redis vault) and escape an erasure. Every
turn that carries a pseudonymised value assigns, so only a conversation that stopped bringing
personal data but is still being restored can be in that state.

Values are personal data: never log them, nor the mapping.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from policies.pseudonym.placeholders import check_entity, identity_key, placeholder

DEFAULT_TTL_S = 24 * 3600


class VaultUnavailable(Exception):
    """The vault's store cannot be reached or failed; the gateway maps this to its own error."""


class PseudonymVault(Protocol):
    async def assign(
        self,
        tenant: str,
        conversation: str,
        items: Sequence[tuple[str, str]],
        subject_ref: str | None = None,
    ) -> list[str]:
        """One placeholder per ``(entity, surface value)``, in order; new values get the next
        number of their entity type. Atomic: concurrent calls never conflict. With
        ``subject_ref``, the conversation is also recorded under that data subject (for
        ``erase_subject``); nothing is recorded when ``items`` is empty."""
        ...

    async def mapping(self, tenant: str, conversation: str) -> dict[str, str]:
        """Placeholder -> the first surface form seen; empty if unknown or expired."""
        ...

    async def erase(self, tenant: str, conversation: str) -> bool:
        """Forget the conversation; True if there was something to forget."""
        ...

    async def erase_subject(self, subject_ref: str) -> int:
        """Forget every conversation recorded under the data subject, in every tenant, and the
        subject's index (an erasure request names nothing else); returns how many live
        conversations were forgotten, 0 for an unknown subject."""
        ...


@dataclass(slots=True)
class _Conversation:
    expires: float
    counters: dict[str, int] = field(default_factory=dict)
    by_identity: dict[tuple[str, str], str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)
    subjects: set[str] = field(default_factory=set)  # to clean the index when it goes


class MemoryPseudonymVault:
    """In this process only (plaintext in memory, nothing at rest). Every method runs without
    awaiting, so each call is atomic with respect to the other tasks of the event loop."""

    def __init__(
        self, ttl_seconds: float = DEFAULT_TTL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        self._ttl = ttl_seconds
        self._clock = clock
        self._conversations: dict[tuple[str, str], _Conversation] = {}
        # subject_ref -> its conversations; an entry goes with its conversation, so it lives
        # exactly as long (no separate TTL, and no early expiry as in Redis).
        self._subjects: dict[str, set[tuple[str, str]]] = {}
        self._next_sweep = clock() + ttl_seconds

    async def assign(
        self,
        tenant: str,
        conversation: str,
        items: Sequence[tuple[str, str]],
        subject_ref: str | None = None,
    ) -> list[str]:
        keyed = [(check_entity(e), identity_key(e, value), value) for e, value in items]
        if not keyed:
            return []
        state = self._live(tenant, conversation, create=True)
        assert state is not None
        if subject_ref is not None:
            state.subjects.add(subject_ref)
            self._subjects.setdefault(subject_ref, set()).add((tenant, conversation))
        out: list[str] = []
        for entity, key, value in keyed:
            name = state.by_identity.get((entity, key))
            if name is None:
                number = state.counters.get(entity, 0) + 1
                state.counters[entity] = number
                name = placeholder(entity, number)
                state.by_identity[(entity, key)] = name
                state.values[name] = value
            out.append(name)
        return out

    async def mapping(self, tenant: str, conversation: str) -> dict[str, str]:
        state = self._live(tenant, conversation, create=False)
        return {} if state is None else dict(state.values)

    async def erase(self, tenant: str, conversation: str) -> bool:
        state = self._drop((tenant, conversation))
        return state is not None and state.expires > self._clock()

    async def erase_subject(self, subject_ref: str) -> int:
        now = self._clock()
        erased = 0
        for key in list(self._subjects.get(subject_ref, ())):
            state = self._drop(key)
            if state is not None and state.expires > now:
                erased += 1
        self._subjects.pop(subject_ref, None)
        return erased

    def __len__(self) -> int:
        """Conversations held, expired ones not yet swept included."""
        return len(self._conversations)

    def _live(self, tenant: str, conversation: str, *, create: bool) -> _Conversation | None:
        """The conversation, its expiry pushed back (a use refreshes the TTL)."""
        now = self._clock()
        if now >= self._next_sweep:
            self._sweep(now)
        state = self._conversations.get((tenant, conversation))
        if state is not None and state.expires <= now:
            self._drop((tenant, conversation))
            state = None
        if state is None:
            if not create:
                return None
            state = self._conversations[(tenant, conversation)] = _Conversation(now)
        state.expires = now + self._ttl
        return state

    def _drop(self, key: tuple[str, str]) -> _Conversation | None:
        """Remove the conversation and its entries in the subject index."""
        state = self._conversations.pop(key, None)
        if state is not None:
            self._unindex(key, state)
        return state

    def _unindex(self, key: tuple[str, str], state: _Conversation) -> None:
        for subject in state.subjects:
            held = self._subjects.get(subject)
            if held is not None:
                held.discard(key)
                if not held:
                    del self._subjects[subject]

    def _sweep(self, now: float) -> None:
        # Amortised: at most one full pass per quarter TTL bounds memory to ~1.25 TTLs of use.
        kept: dict[tuple[str, str], _Conversation] = {}
        for key, state in self._conversations.items():
            if state.expires > now:
                kept[key] = state
            else:
                self._unindex(key, state)
        self._conversations = kept
        self._next_sweep = now + self._ttl / 4
