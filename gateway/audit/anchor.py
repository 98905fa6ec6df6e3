"""Anchors: one global chain that commits every writer's chain head. Pure.

Each writer (a gateway replica) appends to a chain of its own, so that no lock is shared on
the append path. What one chain cannot show on its own (a whole chain dropped, or a chain
cut back together with its head) an anchor shows: every ``anchor_interval`` one replica
reads every chain's head and appends an entry to the anchor chain::

    leaf   = sha256(0x00 || canonical([chain, seq, hash]))
    node   = sha256(0x01 || left || right)            an unpaired node goes up as it is
    root   = the Merkle root of the leaves of *every* chain, sorted by chain
    hash   = sha256(prev_hash || canonical({seq, at, root, leaves}))
    hmac   = HMAC-SHA256(key, "anchor:" || hash)      with the audit key, when configured

``leaves`` holds only the heads that moved since the previous anchor (the first anchor: all
of them) while ``root`` covers the whole state (every chain's latest anchored head): an
anchor stays a few hundred bytes however many chains there are (a chain per process start
adds up), and its root still commits to all of them. The state only moves forward: a head
found behind its anchored leaf, or gone, is left as anchored (``advance`` names it, the
anchorer logs it) and ``audit verify`` reports it.

``AnchorVerifier`` replays the anchor chain: links, hashes, HMACs, each root against the
replayed state, and that no chain's leaf goes backwards from one anchor to the next. What it
collects (every leaf, the final state) is then checked against the chains themselves
(``gateway.audit.trail_check``).
"""

from __future__ import annotations

import hashlib
import hmac as hmac_lib
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

from gateway.audit.chain import (
    EMPTY,
    GENESIS,
    MAX_PROBLEMS,
    ChainHead,
    Problem,
    ProblemKind,
    Unreadable,
    canonical,
    digest,
    sign,
)

ANCHORS = "(anchors)"  # how the anchor chain is named in reports
Leaf = tuple[str, int, str]  # (chain, seq, hash)


def leaf_hash(leaf: Leaf) -> bytes:
    return hashlib.sha256(b"\x00" + canonical(list(leaf))).digest()


def merkle_root(leaves: Iterable[Leaf]) -> str:
    """The root over the leaves sorted by chain (one leaf per chain); GENESIS for none.
    Leaves and nodes are hashed with different prefixes, so no node passes for a leaf."""
    level = [leaf_hash(leaf) for leaf in sorted(leaves)]
    if not level:
        return GENESIS
    while len(level) > 1:
        pairs = [level[i : i + 2] for i in range(0, len(level), 2)]
        level = [
            hashlib.sha256(b"\x01" + pair[0] + pair[1]).digest() if len(pair) == 2 else pair[0]
            for pair in pairs
        ]
    return level[0].hex()


def state_root(state: Mapping[str, ChainHead]) -> str:
    return merkle_root((chain, head.seq, head.hash) for chain, head in state.items())


def anchor_hash(prev_hash: str, seq: int, at: float, root: str, leaves: list[Leaf]) -> str:
    fields = {"seq": seq, "at": at, "root": root, "leaves": [list(leaf) for leaf in leaves]}
    return digest(prev_hash.encode() + canonical(fields))


def sign_anchor(key: bytes, hash_hex: str) -> str:
    """Prefixed: no anchor signature passes for an entry's HMAC, or the reverse."""
    return sign(key, f"anchor:{hash_hex}")


def sign_anchor_head(key: bytes, head: ChainHead) -> str:
    return sign(key, f"anchor-head:{head.seq}:{head.hash}")


class AnchorEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int
    at: float
    root: str
    prev_hash: str
    leaves: list[Leaf]
    hash: str
    hmac: str | None = None

    @property
    def head(self) -> ChainHead:
        return ChainHead(seq=self.seq, hash=self.hash)


@dataclass(frozen=True, slots=True)
class AnchorScan:
    """The anchor head (None: its row is gone) and its signature, and the anchors in seq
    order, from one snapshot. ``entries`` must be read inside the ``scan`` block."""

    head: ChainHead | None
    head_hmac: str | None
    entries: AsyncIterator[AnchorEntry | Unreadable]


async def no_anchors() -> AsyncIterator[AnchorEntry | Unreadable]:
    """The anchors of a store that keeps none (a single chain)."""
    nothing: tuple[AnchorEntry | Unreadable, ...] = ()
    for item in nothing:
        yield item


@dataclass(frozen=True, slots=True)
class Advance:
    """What the next anchor commits: the new state, the leaves that moved, and the chains
    whose head is behind their anchored leaf or gone (kept as anchored, never rolled back)."""

    state: dict[str, ChainHead]
    moved: list[Leaf]
    behind: list[str]


def advance(state: Mapping[str, ChainHead], heads: Mapping[str, ChainHead]) -> Advance:
    new, moved, behind = dict(state), [], []
    for chain in sorted(set(state) | set(heads)):
        old, now = state.get(chain), heads.get(chain)
        if now is None or (old is not None and now.seq < old.seq):
            behind.append(chain)
        elif old is None or now.seq > old.seq:
            if now.seq > 0:  # an empty chain has nothing to anchor yet
                new[chain] = now
                moved.append((chain, now.seq, now.hash))
        elif now.hash != old.hash:
            behind.append(chain)  # same seq, another hash: rewritten
    return Advance(new, moved, behind)


def seal_anchor(prev: ChainHead, at: float, step: Advance, key: bytes | None = None) -> AnchorEntry:
    seq, root = prev.seq + 1, state_root(step.state)
    hash_hex = anchor_hash(prev.hash, seq, at, root, step.moved)
    return AnchorEntry(
        seq=seq,
        at=at,
        root=root,
        prev_hash=prev.hash,
        leaves=step.moved,
        hash=hash_hex,
        hmac=sign_anchor(key, hash_hex) if key is not None else None,
    )


class AnchorReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    entries: int
    last: ChainHead | None
    hmac_checked: bool
    problems: list[Problem]
    problem_count: int
    state: dict[str, ChainHead]  # each chain's latest anchored head

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    def summary(self) -> str:
        if self.last is None:
            state = "no anchor yet"
        else:
            # SEQ:HASH, as ``audit verify --anchor`` takes it: keep it somewhere else.
            state = f"{self.entries} anchors, last {self.last.seq}:{self.last.hash}"
        verdict = "intact" if self.ok else f"TAMPERED: {self.problem_count} problem(s)"
        return f"anchor chain {verdict}: {state}, covering {len(self.state)} chain(s)"


@dataclass(slots=True)
class _Seen:
    leaves: dict[str, dict[int, tuple[str, int]]] = field(default_factory=dict)


class AnchorVerifier:
    """Checks the anchor chain in seq order. ``head``: the anchor head the store keeps
    beside it (and its signature), read in the same snapshot as the anchors; ``pin``: an
    anchor recorded elsewhere (``audit verify --anchor``)."""

    def __init__(
        self,
        key: bytes | None,
        *,
        head: ChainHead | None,
        head_hmac: str | None = None,
        pin: ChainHead | None = None,
    ) -> None:
        self._key = key
        self._head, self._head_hmac, self._pin = head, head_hmac, pin
        self._last: AnchorEntry | None = None
        self._state: dict[str, ChainHead] = {}
        self._seen = _Seen()
        self._hashes: dict[int, str] = {}
        self._count = 0
        self._gap = False  # after a gap the replayed state is incomplete: roots not checked
        self._problems: list[Problem] = []
        self._problem_count = 0

    @property
    def leaves(self) -> dict[str, dict[int, tuple[str, int]]]:
        """chain -> seq -> (hash, the anchor's seq): every leaf any anchor recorded."""
        return self._seen.leaves

    def feed(self, item: AnchorEntry | Unreadable) -> None:
        self._count += 1
        if isinstance(item, Unreadable):
            self._gap = True
            seq = self._last.seq + 1 if self._last is not None else 1
            self._problem(seq, "unreadable", f"{item.where} is not an anchor: {item.error}")
            return
        self._check_order(item)
        expected = anchor_hash(item.prev_hash, item.seq, item.at, item.root, item.leaves)
        if not hmac_lib.compare_digest(expected, item.hash):
            self._problem(item.seq, "changed", "the hash does not match its seq, root or leaves")
        self._check_hmac(item)
        self._apply(item)
        self._hashes[item.seq] = item.hash
        if self._last is None or item.seq > self._last.seq:
            self._last = item

    def report(self) -> AnchorReport:
        last = self._last.head if self._last is not None else EMPTY
        self._check_head(last)
        pin = self._pin
        if pin is not None and self._hashes.get(pin.seq) != pin.hash:
            found = "is missing" if pin.seq not in self._hashes else "has another hash"
            self._problem(pin.seq, "anchor", f"the pinned anchor seq {pin.seq} {found}")
        return AnchorReport(
            entries=self._count,
            last=self._last.head if self._last is not None else None,
            hmac_checked=self._key is not None,
            problems=list(self._problems),
            problem_count=self._problem_count,
            state=dict(self._state),
        )

    def _problem(self, seq: int, kind: ProblemKind, message: str) -> None:
        self._problem_count += 1
        if len(self._problems) < MAX_PROBLEMS:
            self._problems.append(Problem(seq=seq, kind=kind, message=message, chain=ANCHORS))

    def _check_order(self, item: AnchorEntry) -> None:
        prev = self._last.head if self._last is not None else EMPTY
        if item.seq > prev.seq + 1:
            self._gap = True
            self._problem(item.seq, "missing", f"anchor seq {prev.seq + 1}..{item.seq - 1} removed")
        elif item.seq <= prev.seq:
            self._gap = True
            self._problem(item.seq, "reordered", f"anchor seq {item.seq} after seq {prev.seq}")
        elif item.prev_hash != prev.hash:
            self._problem(item.seq, "broken_link", f"prev_hash is not anchor seq {prev.seq}'s")

    def _check_hmac(self, item: AnchorEntry) -> None:
        if self._key is None:
            return
        if item.hmac is None:
            self._problem(item.seq, "unsigned", "no HMAC, but the trail is signed")
        elif not hmac_lib.compare_digest(sign_anchor(self._key, item.hash), item.hmac):
            self._problem(item.seq, "bad_hmac", "the HMAC does not match: forged or re-hashed")

    def _apply(self, item: AnchorEntry) -> None:
        for chain, seq, hash_hex in item.leaves:
            old = self._state.get(chain)
            if old is not None and (seq < old.seq or (seq == old.seq and hash_hex != old.hash)):
                self._problem(
                    item.seq,
                    "went_back",
                    f"chain {chain!r} is anchored at seq {seq} after seq {old.seq}: its head "
                    "went backwards between anchors",
                )
                continue
            self._state[chain] = ChainHead(seq=seq, hash=hash_hex)
            self._seen.leaves.setdefault(chain, {})[seq] = (hash_hex, item.seq)
        if not self._gap and state_root(self._state) != item.root:
            self._problem(
                item.seq, "changed", "the root does not match the heads the anchors recorded"
            )

    def _check_head(self, last: ChainHead) -> None:
        head = self._head
        if head is None:
            if last.seq:
                self._problem(last.seq, "no_head", "the anchor chain's head row is missing")
            return
        if self._key is not None and head != EMPTY:  # the row as created is not signed
            signed = self._head_hmac
            if signed is None or not hmac_lib.compare_digest(
                sign_anchor_head(self._key, head), signed
            ):
                self._problem(head.seq, "bad_head", "the anchor head's HMAC is missing or wrong")
        if head != last:  # read in one snapshot with the anchors: they must agree
            self._problem(
                head.seq,
                "truncated",
                f"the anchor head is seq {head.seq} but the anchor chain ends at seq "
                f"{last.seq} with {'the same' if last.hash == head.hash else 'another'} hash: "
                "anchors were removed from the end, or the head was changed",
            )
