"""``audit verify`` over a whole store: the anchor chain first, then every chain.

Order, and why:

1. The anchor chain and its head, from one snapshot (``AnchorVerifier``): links, hashes,
   HMACs, each Merkle root against the replayed state, no chain's leaf going backwards.
   It yields every leaf (chain, seq, hash) any anchor recorded, and each chain's latest.
2. Every chain the store holds, and every chain an anchor names (a chain dropped whole is
   still on that list): each is verified as a chain always was (``chain.Verifier`` against
   its head row, read before its entries), and besides, every anchored leaf of the chain
   must be there with its hash, its head must not be behind its latest anchored leaf, and a
   chain with entries must have a head. A chain with no entries and no head that an anchor
   names was dropped.
3. Pruned entries last: a ``retention.purge`` record lives in one chain and covers the
   tenant's entries in every chain, so the cut-offs of all chains are merged before any
   prune is judged.

What no anchor covers yet (a chain's entries after the last anchor) is protected as before
by the chain's head row: removing entries from the end without moving the head back shows.
Moving the head back as well is only seen once an anchor has recorded a later head.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from gateway.audit.anchor import ANCHORS, AnchorReport, AnchorScan, AnchorVerifier
from gateway.audit.chain import (
    ChainEntry,
    ChainHead,
    HeadRecord,
    Problem,
    Unreadable,
    Verifier,
    VerifyReport,
    chain_start,
)


class ChainReader(Protocol):
    """What verification reads of a store."""

    @property
    def anchored(self) -> bool:
        """Several chains tied by an anchor chain (False: one chain, no anchors)."""
        ...

    async def chains(self) -> list[str]:
        """Every chain that has entries or a head."""
        ...

    async def head(self, chain: str | None = None) -> ChainHead | HeadRecord | None:
        """The head the store records apart from a chain's entries (None: it keeps none,
        or it is gone). ``chain`` None: the store's own."""
        ...

    def scan(
        self, until_seq: int | None = None, chain: str | None = None
    ) -> AsyncIterator[ChainEntry | Unreadable]:
        """A chain's entries, in storage order (seq, or a file's lines)."""
        ...

    def anchors(self) -> AbstractAsyncContextManager[AnchorScan]:
        """The anchor chain and its head, from one snapshot."""
        ...


class TrailReport(BaseModel):
    """Every chain's report, and the anchor chain's (None: the store keeps no anchors)."""

    model_config = ConfigDict(frozen=True)

    chains: dict[str, VerifyReport]
    anchors: AnchorReport | None

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    @property
    def problem_count(self) -> int:
        anchors = self.anchors.problem_count if self.anchors else 0
        return anchors + sum(r.problem_count for r in self.chains.values())

    @property
    def problems(self) -> list[Problem]:
        """Every problem kept, the anchor chain's first; labelled by chain when several."""
        found = list(self.anchors.problems) if self.anchors else []
        for name, report in self.chains.items():
            label = name if self.anchors is not None else None
            found += [p.model_copy(update={"chain": label}) for p in report.problems]
        return found

    @property
    def entries(self) -> int:
        return sum(r.entries for r in self.chains.values())

    @property
    def erased(self) -> int:
        return sum(r.erased for r in self.chains.values())

    @property
    def pruned(self) -> int:
        return sum(r.pruned for r in self.chains.values())

    @property
    def hmac_checked(self) -> bool:
        return all(r.hmac_checked for r in self.chains.values())

    @property
    def first_bad_seq(self) -> int | None:
        return min((p.seq for p in self.problems), default=None)

    def summary(self) -> str:
        if self.anchors is None and len(self.chains) == 1:
            return next(iter(self.chains.values())).summary()  # one chain, as it always read
        bad = sorted({p.chain or "" for p in self.problems})
        verdict = (
            f"intact: {len(self.chains)} chain(s), {self.entries} entries"
            if self.ok
            else f"TAMPERED: {self.problem_count} problem(s), in {', '.join(bad)}"
        )
        lines = [verdict]
        if self.anchors is not None:
            lines.append(self.anchors.summary())
            lines += [f"  anchor {p.seq}: {p.kind}: {p.message}" for p in self.anchors.problems]
        state = self.anchors.state if self.anchors else {}
        for name, report in self.chains.items():
            note = _anchor_note(state.get(name), report.last)
            text = report.summary().replace("\n", "\n  ")
            lines.append(f"chain {name!r}: {text}{note}")
        return "\n".join(lines)


def _anchor_note(anchored: ChainHead | None, last: ChainHead | None) -> str:
    """How far an anchor covers the chain; the rest is guarded by its head row alone."""
    if anchored is None:
        return "; not anchored yet (guarded by its head row)"
    since = (last.seq if last else 0) - anchored.seq
    tail = f" ({since} since, guarded by its head row)" if since > 0 else ""
    return f"; anchored to seq {anchored.seq}{tail}"


async def check_trail(
    store: ChainReader,
    hmac_key: bytes | None,
    *,
    anchor: ChainHead | None = None,
    chain_pins: Mapping[str, ChainHead] | None = None,
) -> TrailReport:
    """``anchor``: an anchor (a single-chain store: an entry) recorded elsewhere, that must
    still be there; ``chain_pins``: entries of named chains recorded elsewhere."""
    pins = dict(chain_pins or {})
    anchors: AnchorReport | None = None
    leaves: dict[str, dict[int, tuple[str, int]]] = {}
    if store.anchored:
        async with store.anchors() as scan:
            checker = AnchorVerifier(hmac_key, head=scan.head, head_hmac=scan.head_hmac, pin=anchor)
            async for item in scan.entries:
                checker.feed(item)
        anchors, leaves = checker.report(), checker.leaves
    names = sorted(set(await store.chains()) | set(anchors.state if anchors else ()))
    verifiers: dict[str, Verifier] = {}
    for name in names:
        pin = pins.get(name) if store.anchored else pins.get(name, anchor)
        latest = anchors.state.get(name) if anchors else None
        verifiers[name] = await _check_chain(
            store, name, hmac_key, pin, latest, leaves.get(name, {})
        )
    cutoffs: dict[str, float] = {}
    for verifier in verifiers.values():
        for tenant, before in verifier.cutoffs.items():
            cutoffs[tenant] = max(cutoffs.get(tenant, before), before)
    reports = {name: v.report(cutoffs) for name, v in verifiers.items()}
    return TrailReport(chains=reports, anchors=anchors)


async def _check_chain(
    store: ChainReader,
    name: str,
    key: bytes | None,
    pin: ChainHead | None,
    latest: ChainHead | None,
    leaves: Mapping[int, tuple[str, int]],
) -> Verifier:
    """One chain, read up to its head (appends made meanwhile wait for the next run; a head
    kept beside the chain, the file store's, is written after it: read to the end)."""
    head = await store.head(name)
    verifier = Verifier(key, head=head, anchor=pin, start=chain_start(name))
    until = head.seq if isinstance(head, ChainHead) else None
    found: dict[int, str] = {}
    async for item in store.scan(until_seq=until, chain=name):
        if isinstance(item, Unreadable):
            verifier.unreadable(item)
            continue
        verifier.feed(item)
        if item.seq in leaves:
            found[item.seq] = item.hash
    if not store.anchored:
        return verifier
    last = verifier.last
    if head is None and last is None:
        if latest is not None:
            verifier.problem(
                latest.seq,
                "vanished",
                f"an anchor recorded this chain at seq {latest.seq}, and it has no entries "
                "and no head any more: the whole chain was dropped",
            )
        return verifier
    if head is None:
        verifier.problem(
            last.seq if last else 0,
            "no_head",
            "the chain's head row is missing: entries removed from its end could not be seen",
        )
    elif isinstance(head, ChainHead) and latest is not None and head.seq < latest.seq:
        verifier.problem(
            head.seq,
            "went_back",
            f"the head row is at seq {head.seq}, behind seq {latest.seq} that an anchor "
            "recorded: entries were removed from the end together with the head",
        )
    for seq, (hash_hex, anchor_seq) in sorted(leaves.items()):
        if found.get(seq) != hash_hex:
            state = "is missing" if seq not in found else "has another hash"
            verifier.problem(
                seq, "anchor", f"seq {seq}, recorded by anchor {anchor_seq} ({ANCHORS}), {state}"
            )
    return verifier
