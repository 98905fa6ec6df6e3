"""The hash chain: sealing records into entries, and verifying a sequence of entries. Pure.

Each entry commits to its predecessor::

    body_digest   = sha256(canonical(body))                  body: the record's fixed part
    hash          = sha256(prev_hash || canonical({seq, at, tenant, kind, body_digest}))
    hmac          = HMAC-SHA256(key, hash)                   optional, with a server key

The first entry links to its chain's genesis (``chain_genesis``: GENESIS for ``main``, the
single chain of the file store and of older tables; else a digest of the chain's name), so an
entry moved to another chain, or a chain renamed, breaks a link. ``canonical`` is orjson
with sorted keys. The body holds a *commitment* to the erasable
fields instead of the fields themselves: ``erasable_digest = sha256(salt || canonical(
{subject_ref, content}))``, with a random salt per record stored beside them, outside every
hash. Erasure (GDPR Art. 17) deletes the erasable fields *and* the salt: the digest stays, so
the chain still verifies, and without the salt the erased values cannot be recovered by
hashing guesses. Retention goes one step further and *prunes* old entries: the body goes too,
only the header (seq, at, tenant, kind, body_digest, prev_hash, hash, hmac) is kept, which is
still enough to verify the links. A pruned entry must be covered by a later
``retention.purge`` admin record for its tenant whose cut-off is after the entry's time, so a
body cannot quietly be dropped outside a purge (with an HMAC key, nobody without the key can
add such a record).

``verify`` finds changed entries (hash, body or erasable digest mismatch), removed ones (a
gap in seq), reordered ones (seq going backwards, prev_hash not matching), bad or missing
HMACs, and, given the store's independently kept head or an earlier anchor, removed tails.
A head kept where anyone who can edit the chain can edit it too (the file store's) is signed
(``head_hmac = HMAC-SHA256(key, "head:" || seq || ":" || hash)``, apart from the entries'),
and a missing one is a problem, not a pass: otherwise cutting the tail and deleting the
head would verify. No head can show a rollback to an older head with its chain: only an
anchor kept elsewhere can.
"""

from __future__ import annotations

import hashlib
import hmac as hmac_lib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, TypeAdapter

from gateway.audit.records import ERASABLE_FIELDS, AuditRecord

GENESIS = "0" * 64
PURGE_ACTION = "retention.purge"
MAX_PROBLEMS = 1000  # kept in a report; a wrecked chain still yields a readable one

ProblemKind = Literal[
    "changed",  # a hash or digest does not match what it covers
    "missing",  # a gap in seq: entries were removed
    "reordered",  # seq goes backwards or repeats
    "broken_link",  # prev_hash is not the previous entry's hash
    "bad_hmac",
    "unsigned",
    "unexplained_prune",  # a body was dropped outside any retention purge
    "truncated",  # the chain ends before the head the store recorded
    "no_head",  # the store keeps a head apart from the chain, and it is missing
    "bad_head",  # that head's signature does not match (forged), or it is unsigned
    "anchor",  # an earlier recorded (seq, hash) is not in the chain any more
    "unreadable",  # a line or row that is not a chain entry at all
    "vanished",  # a chain an anchor names has no entries and no head any more
    "went_back",  # a chain's head is behind what an anchor recorded for it
]

_RECORD: TypeAdapter[AuditRecord] = TypeAdapter(AuditRecord)


def canonical(value: Any) -> bytes:
    """Sorted-key JSON of ``value``, with integral floats written as integers: PostgreSQL's
    jsonb gives ``1e+16`` back as ``10000000000000000``, which must hash the same."""
    return orjson.dumps(_plain(value), option=orjson.OPT_SORT_KEYS)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer() and -(2**63) <= value < 2**64:
        return int(value)
    return value


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def erasable_digest(salt: bytes, erasable: dict[str, Any]) -> str:
    return digest(salt + canonical(erasable))


def entry_hash(
    prev_hash: str, seq: int, at: float, tenant: str | None, kind: str, body_digest: str
) -> str:
    header = {"seq": seq, "at": at, "tenant": tenant, "kind": kind, "body_digest": body_digest}
    return digest(prev_hash.encode() + canonical(header))


def sign(key: bytes, entry_hash_hex: str) -> str:
    return hmac_lib.new(key, entry_hash_hex.encode(), hashlib.sha256).hexdigest()


class ChainHead(BaseModel):
    """The last entry's seq and hash; seq 0 and GENESIS for an empty chain."""

    model_config = ConfigDict(frozen=True)

    seq: int
    hash: str


EMPTY = ChainHead(seq=0, hash=GENESIS)
LEGACY_CHAIN = "main"  # the single chain of the file store, and of tables made before chains


def chain_genesis(chain: str) -> str:
    """What a chain's first entry links to: its name, so that no entry can be moved to
    another chain, nor a chain renamed, without breaking a link. ``main`` keeps GENESIS:
    the chains written before there were several."""
    return GENESIS if chain == LEGACY_CHAIN else digest(f"genesis:{chain}".encode())


def chain_start(chain: str) -> ChainHead:
    """The head of an empty chain."""
    return ChainHead(seq=0, hash=chain_genesis(chain))


def sign_head(key: bytes, head: ChainHead) -> str:
    """Prefixed, so that no head signature can pass for an entry's HMAC or the reverse."""
    return sign(key, f"head:{head.seq}:{head.hash}")


@dataclass(frozen=True, slots=True)
class HeadRecord:
    """A head a store keeps beside its chain, as read back for verification. ``head`` None:
    the store keeps one and found none; ``hmac``: its signature (``sign_head``), where it is
    kept in reach of whoever can edit the chain."""

    head: ChainHead | None
    hmac: str | None = None


class ChainEntry(BaseModel):
    """One sealed record as stored. ``body`` None: pruned; ``erasable`` None: none or erased."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int
    at: float
    tenant: str | None
    kind: str
    body_digest: str
    prev_hash: str
    hash: str
    hmac: str | None = None
    body: dict[str, Any] | None = None
    erasable: dict[str, Any] | None = None
    salt: str | None = None  # hex

    @property
    def head(self) -> ChainHead:
        return ChainHead(seq=self.seq, hash=self.hash)

    @property
    def subject_ref(self) -> str | None:
        value = (self.erasable or {}).get("subject_ref")
        return value if isinstance(value, str) else None

    @property
    def pruned(self) -> bool:
        return self.body is None

    @property
    def erased(self) -> bool:
        """It had erasable fields and they are gone."""
        return (
            self.body is not None
            and self.body.get("erasable_digest") is not None
            and (self.erasable is None)
        )

    def record(self) -> AuditRecord | None:
        """The record as appended, less whatever was erased; None once pruned."""
        if self.body is None:
            return None
        fields = {k: v for k, v in self.body.items() if k != "erasable_digest"}
        fields.update(self.erasable or {})
        return _RECORD.validate_python(
            {**fields, "at": self.at, "tenant": self.tenant, "kind": self.kind}
        )

    def without_erasable(self) -> ChainEntry:
        return self.model_copy(update={"erasable": None, "salt": None})

    def without_body(self) -> ChainEntry:
        return self.model_copy(update={"body": None, "erasable": None, "salt": None})


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A stored line or row that does not parse as an entry (damaged, or edited by hand)."""

    where: str  # "line 12", "row seq 7"
    error: str


@dataclass(frozen=True, slots=True)
class Draft:
    """A record ready to be sealed: everything but its place in the chain. The store links
    it to the head it holds under its append lock."""

    at: float
    tenant: str | None
    kind: str
    body: dict[str, Any]
    body_digest: str
    erasable: dict[str, Any] | None
    salt: bytes | None
    hmac_key: bytes | None

    def link(self, head: ChainHead) -> ChainEntry:
        seq = head.seq + 1
        hash_hex = entry_hash(head.hash, seq, self.at, self.tenant, self.kind, self.body_digest)
        # Built from a draft this module made: nothing to validate (and it runs under the
        # store's append lock, once per record).
        return ChainEntry.model_construct(
            seq=seq,
            at=self.at,
            tenant=self.tenant,
            kind=self.kind,
            body_digest=self.body_digest,
            prev_hash=head.hash,
            hash=hash_hex,
            hmac=sign(self.hmac_key, hash_hex) if self.hmac_key is not None else None,
            body=self.body,
            erasable=self.erasable,
            salt=self.salt.hex() if self.salt is not None else None,
        )


def link_all(drafts: Sequence[Draft], head: ChainHead) -> list[ChainEntry]:
    """Seal drafts one after another onto ``head``, in the order given."""
    entries = []
    for item in drafts:
        entry = item.link(head)
        entries.append(entry)
        head = entry.head
    return entries


def draft(record: AuditRecord, salt: bytes, hmac_key: bytes | None = None) -> Draft:
    """Split a record into its hashed body and its erasable part (committed to by digest)."""
    erasable = record.erasable()
    hashed_apart = {"at", "tenant", "kind", *ERASABLE_FIELDS}
    body = record.model_dump(mode="json", exclude=hashed_apart)
    body["erasable_digest"] = erasable_digest(salt, erasable) if erasable is not None else None
    return Draft(
        at=record.at,
        tenant=record.tenant,
        kind=record.kind,
        body=body,
        body_digest=digest(canonical(body)),
        erasable=erasable,
        salt=salt if erasable is not None else None,
        hmac_key=hmac_key,
    )


class Problem(BaseModel):
    model_config = ConfigDict(frozen=True)

    seq: int
    kind: ProblemKind
    message: str
    chain: str | None = None  # set where a report covers several chains


class VerifyReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    entries: int
    last: ChainHead | None  # the last entry seen: record it elsewhere as a future anchor
    hmac_checked: bool
    erased: int  # entries whose erasable fields were erased
    pruned: int  # entries reduced to their header by retention
    problems: list[Problem]
    problem_count: int  # all of them; ``problems`` keeps the first MAX_PROBLEMS

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    @property
    def first_bad_seq(self) -> int | None:
        return min((p.seq for p in self.problems), default=None)

    def summary(self) -> str:
        # SEQ:HASH, as ``audit verify --anchor`` takes it: keep it somewhere else.
        last = f"last {self.last.seq}:{self.last.hash}" if self.last else "empty chain"
        signed = "HMAC checked" if self.hmac_checked else "HMAC not checked (no key)"
        head = (
            f"{self.entries} entries, {last}; {signed}; {self.erased} erased, {self.pruned} pruned"
        )
        if self.ok:
            return f"intact: {head}"
        lines = [f"TAMPERED: {self.problem_count} problem(s), first at seq {self.first_bad_seq}"]
        lines += [f"  seq {p.seq}: {p.kind}: {p.message}" for p in self.problems]
        lines.append(head)
        return "\n".join(lines)


class Verifier:
    """Checks entries one at a time, in chain order, so a long chain need not fit in memory.

    ``head``: the head the store keeps apart from the entries (its append lock row, or the
    file store's signed head file), to catch entries removed from the end. ``anchor``: an
    earlier head recorded elsewhere (a ticket, a notary), which must still be in the chain
    with the same hash.
    """

    def __init__(
        self,
        hmac_key: bytes | None = None,
        *,
        head: ChainHead | HeadRecord | None = None,
        anchor: ChainHead | None = None,
        start: ChainHead = EMPTY,
    ) -> None:
        self._key = hmac_key
        self._start = start  # the empty chain's head (``chain_start``)
        self._record = head if isinstance(head, HeadRecord) else None
        self._head = head.head if isinstance(head, HeadRecord) else head
        self._anchor = anchor
        self._anchor_seen: str | None = None
        self._head_seen: str | None = None
        self._last: ChainEntry | None = None
        self._count = self._erased = 0
        self._pruned: list[ChainEntry] = []
        self._cutoffs: dict[str, float] = {}  # tenant -> latest purge cut-off
        self._problems: list[Problem] = []
        self._problem_count = 0

    def feed(self, entry: ChainEntry) -> None:
        self._count += 1
        self._check_order(entry)
        self._check_contents(entry)
        self._check_hmac(entry)
        if entry.pruned:
            self._pruned.append(entry.without_body())
        elif entry.erased:
            self._erased += 1
        self._note_purge(entry)
        if self._anchor is not None and entry.seq == self._anchor.seq:
            self._anchor_seen = entry.hash
        if self._head is not None and entry.seq == self._head.seq:
            self._head_seen = entry.hash
        if self._last is None or entry.seq > self._last.seq:
            self._last = entry  # an entry out of place does not move the chain back

    def unreadable(self, item: Unreadable) -> None:
        """Reported at the seq it should have had; the chain goes on from the last entry."""
        self._count += 1
        seq = self._last.seq + 1 if self._last is not None else 1
        self._problem(seq, "unreadable", f"{item.where} is not a chain entry: {item.error}")

    @property
    def cutoffs(self) -> dict[str, float]:
        """Each tenant's latest purge cut-off seen in this chain so far."""
        return dict(self._cutoffs)

    @property
    def last(self) -> ChainHead | None:
        return self._last.head if self._last is not None else None

    def problem(self, seq: int, kind: ProblemKind, message: str) -> None:
        """A problem found outside the entries (by whoever checks this chain among others)."""
        self._problem(seq, kind, message)

    def report(self, cutoffs: Mapping[str, float] | None = None) -> VerifyReport:
        """``cutoffs``: purge cut-offs recorded in other chains (a purge record lives in one
        chain and covers the tenant's entries in all of them)."""
        merged = dict(self._cutoffs)
        for tenant, before in (cutoffs or {}).items():
            merged[tenant] = max(merged.get(tenant, before), before)
        for entry in self._pruned:
            cutoff = merged.get(entry.tenant or "")
            if cutoff is None or entry.at >= cutoff:
                self._problem(
                    entry.seq,
                    "unexplained_prune",
                    f"the body was removed, but no {PURGE_ACTION} record of tenant "
                    f"{entry.tenant!r} covers its time {entry.at}",
                )
        self._check_end()
        return VerifyReport(
            entries=self._count,
            last=self._last.head if self._last else None,
            hmac_checked=self._key is not None,
            erased=self._erased,
            pruned=len(self._pruned),
            problems=list(self._problems),
            problem_count=self._problem_count,
        )

    def _problem(self, seq: int, kind: ProblemKind, message: str) -> None:
        self._problem_count += 1
        if len(self._problems) < MAX_PROBLEMS:
            self._problems.append(Problem(seq=seq, kind=kind, message=message))

    def _check_order(self, entry: ChainEntry) -> None:
        prev = self._last.head if self._last is not None else self._start
        seq = entry.seq
        if seq > prev.seq + 1:
            missing = seq - prev.seq - 1
            self._problem(
                seq,
                "missing",
                f"seq {prev.seq + 1}..{seq - 1} absent here: {missing} record(s) removed or moved",
            )
        elif seq <= prev.seq:
            self._problem(
                seq, "reordered", f"seq {seq} comes after seq {prev.seq}: moved or duplicated"
            )
        elif entry.prev_hash != prev.hash:
            self._problem(
                seq,
                "broken_link",
                f"prev_hash is not the hash of seq {prev.seq}: records were reordered, or "
                "one was replaced",
            )

    def _check_contents(self, entry: ChainEntry) -> None:
        seq = entry.seq
        expected = entry_hash(
            entry.prev_hash, seq, entry.at, entry.tenant, entry.kind, entry.body_digest
        )
        if not hmac_lib.compare_digest(expected, entry.hash):
            self._problem(
                seq, "changed", "the hash does not match seq, at, tenant, kind or body digest"
            )
        if entry.body is None:
            if entry.erasable is not None:
                self._problem(seq, "changed", "a pruned entry carries erasable fields")
            return
        if digest(canonical(entry.body)) != entry.body_digest:
            self._problem(seq, "changed", "the body does not match its digest: it was changed")
        committed = entry.body.get("erasable_digest")
        if entry.erasable is None:
            return
        if entry.salt is None or committed is None:
            self._problem(seq, "changed", "erasable fields without their salt or commitment")
            return
        try:
            salt = bytes.fromhex(entry.salt)
        except ValueError:
            salt = b""
        if erasable_digest(salt, entry.erasable) != committed:
            self._problem(seq, "changed", "the subject reference or content was changed")

    def _check_hmac(self, entry: ChainEntry) -> None:
        if self._key is None:
            return
        if entry.hmac is None:
            self._problem(entry.seq, "unsigned", "no HMAC, but the chain is signed")
        elif not hmac_lib.compare_digest(sign(self._key, entry.hash), entry.hmac):
            self._problem(entry.seq, "bad_hmac", "the HMAC does not match: forged or re-hashed")

    def _note_purge(self, entry: ChainEntry) -> None:
        body = entry.body
        if body is None or entry.kind != "admin" or body.get("action") != PURGE_ACTION:
            return
        target, details = body.get("target"), body.get("details")
        if not isinstance(target, dict) or not isinstance(details, dict):
            return  # a body of another shape fails its digest check already
        tenant, before = target.get("tenant"), details.get("before")
        if isinstance(tenant, str) and isinstance(before, int | float):
            self._cutoffs[tenant] = max(self._cutoffs.get(tenant, before), before)

    def _check_end(self) -> None:
        last = self._last.head if self._last is not None else self._start
        self._check_head_record(last)
        self._check_head(last)
        anchor = self._anchor
        if anchor is not None and self._anchor_seen != anchor.hash:
            found = "is missing" if self._anchor_seen is None else "has another hash"
            self._problem(anchor.seq, "anchor", f"the anchored entry seq {anchor.seq} {found}")

    def _check_head(self, last: ChainHead) -> None:
        head = self._head
        if head is None:
            return
        if self._record is not None and last.seq >= head.seq:
            # A head kept beside the chain is written after it: the chain may go on past it
            # (a crash between the two writes), but its entry must be there, unchanged.
            if head.seq and self._head_seen != head.hash:
                self._problem(
                    head.seq,
                    "bad_head",
                    f"the entry at the head's seq {head.seq} has another hash: the chain was "
                    "replaced, or the head changed",
                )
            return
        if head != last:
            ends = (
                f"the chain ends at seq {last.seq} with another hash"
                if last.seq
                else "the chain is empty (its records were deleted, or its file emptied)"
            )
            self._problem(
                last.seq + 1 if head.seq > last.seq else head.seq,
                "truncated",
                f"the store's head is seq {head.seq} but {ends}: records were removed from "
                "the end, or the head was changed",
            )

    def _check_head_record(self, last: ChainHead) -> None:
        """A head kept beside the chain: it must be there, and signed by the trail's key."""
        record = self._record
        if record is None:
            return
        head = record.head
        if head is None:
            if last.seq:
                self._problem(
                    last.seq,
                    "no_head",
                    "the chain's head, kept beside it, is missing or unreadable: records "
                    "removed from the end could not be seen. A chain written before heads were "
                    "kept gets one with its next append; otherwise the head was deleted",
                )
            return
        if self._key is None:
            return
        if record.hmac is None:
            self._problem(head.seq, "bad_head", "the head is not signed, but the chain is")
        elif not hmac_lib.compare_digest(sign_head(self._key, head), record.hmac):
            self._problem(
                head.seq, "bad_head", "the head's HMAC does not match: it was forged or changed"
            )


def verify(
    entries: Iterable[ChainEntry | Unreadable],
    hmac_key: bytes | None = None,
    *,
    head: ChainHead | HeadRecord | None = None,
    anchor: ChainHead | None = None,
) -> VerifyReport:
    """Check entries given in chain order (by seq, or a file's line order)."""
    verifier = Verifier(hmac_key, head=head, anchor=anchor)
    for entry in entries:
        if isinstance(entry, Unreadable):
            verifier.unreadable(entry)
        else:
            verifier.feed(entry)
    return verifier.report()
