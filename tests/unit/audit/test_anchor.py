"""Anchors, pure: the Merkle root, how the anchored state moves, and what the anchor chain's
verifier finds."""

from __future__ import annotations

import hashlib

from gateway.audit.anchor import (
    AnchorEntry,
    AnchorVerifier,
    Leaf,
    advance,
    anchor_hash,
    leaf_hash,
    merkle_root,
    seal_anchor,
    sign_anchor_head,
    state_root,
)
from gateway.audit.chain import EMPTY, GENESIS, ChainHead, Unreadable, canonical

KEY = b"anchor-hmac-key-for-tests-000000"


def head(seq: int, tag: str = "") -> ChainHead:
    return ChainHead(seq=seq, hash=hashlib.sha256(f"{seq}{tag}".encode()).hexdigest())


def leaves(**heads: ChainHead) -> list[Leaf]:
    return [(chain, h.seq, h.hash) for chain, h in heads.items()]


def anchored(*steps: dict[str, ChainHead], key: bytes | None = KEY) -> list[AnchorEntry]:
    """Anchors over successive sets of chain heads, as the anchor job makes them."""
    entries: list[AnchorEntry] = []
    state: dict[str, ChainHead] = {}
    prev = EMPTY
    for n, heads in enumerate(steps):
        step = advance(state, heads)
        entry = seal_anchor(prev, 1_700_000_000.0 + n, step, key)
        entries.append(entry)
        state, prev = step.state, entry.head
    return entries


def check(
    entries: list[AnchorEntry | Unreadable], *, key: bytes | None = KEY, **over: object
) -> set[tuple[int, str]]:
    last = next((e.head for e in reversed(entries) if isinstance(e, AnchorEntry)), None)
    head_ = over.get("head", last)
    assert head_ is None or isinstance(head_, ChainHead)
    signed = sign_anchor_head(KEY, head_) if head_ is not None else None
    verifier = AnchorVerifier(key, head=head_, head_hmac=signed)
    for entry in entries:
        verifier.feed(entry)
    return {(p.seq, p.kind) for p in verifier.report().problems}


def test_the_root_is_a_merkle_tree_over_the_leaves_sorted_by_chain() -> None:
    a, b, c = ("a", 1, "1" * 64), ("b", 2, "2" * 64), ("c", 3, "3" * 64)
    assert merkle_root([]) == GENESIS
    assert merkle_root([a]) == leaf_hash(a).hex()
    assert leaf_hash(a) == hashlib.sha256(b"\x00" + canonical(["a", 1, "1" * 64])).digest()
    ab = hashlib.sha256(b"\x01" + leaf_hash(a) + leaf_hash(b)).digest()
    assert merkle_root([b, a]) == ab.hex()
    # An unpaired node goes up as it is (never paired with itself).
    assert merkle_root([c, a, b]) == hashlib.sha256(b"\x01" + ab + leaf_hash(c)).hexdigest()
    assert merkle_root([a, b, ("c", 3, "4" * 64)]) != merkle_root([a, b, c])
    assert merkle_root([a, c]) != merkle_root([a, b, c])


def test_the_state_moves_forward_only() -> None:
    state = {"a": head(5), "b": head(3)}
    step = advance(state, {"a": head(7), "b": head(3), "c": head(1), "empty": EMPTY})
    assert step.moved == leaves(a=head(7), c=head(1))
    assert step.state == {"a": head(7), "b": head(3), "c": head(1)}
    assert step.behind == []
    # A head behind its anchored leaf, rewritten at the same seq, or gone: kept as anchored.
    step = advance(state, {"a": head(4), "b": head(3, "rewritten")})
    assert step.moved == []
    assert step.behind == ["a", "b"]
    assert step.state == state
    assert advance(state, {"a": head(5)}).behind == ["b"]


def test_a_chain_of_anchors_verifies() -> None:
    entries = anchored({"a": head(1)}, {"a": head(4), "b": head(2)}, {"a": head(4), "b": head(9)})
    assert [e.leaves for e in entries] == [
        leaves(a=head(1)),
        leaves(a=head(4), b=head(2)),
        leaves(b=head(9)),
    ]
    assert entries[-1].root == state_root({"a": head(4), "b": head(9)})
    verifier = AnchorVerifier(KEY, head=entries[-1].head, head_hmac=None, pin=entries[1].head)
    for entry in entries:
        verifier.feed(entry)
    report = verifier.report()
    assert {(p.seq, p.kind) for p in report.problems} == {(3, "bad_head")}  # unsigned head
    assert report.state == {"a": head(4), "b": head(9)}
    assert verifier.leaves == {"a": {1: (head(1).hash, 1), 4: (head(4).hash, 2)},
                               "b": {2: (head(2).hash, 2), 9: (head(9).hash, 3)}}  # fmt: skip
    assert check(list(entries)) == set()
    signed = AnchorVerifier(
        KEY, head=entries[-1].head, head_hmac=sign_anchor_head(KEY, entries[-1].head)
    )
    for entry in entries:
        signed.feed(entry)
    summary = signed.report().summary()
    assert (
        summary == f"anchor chain intact: 3 anchors, last 3:{entries[-1].hash}, covering 2 chain(s)"
    )


def test_changed_removed_and_reordered_anchors_are_found() -> None:
    entries = anchored({"a": head(1)}, {"a": head(2)}, {"a": head(3)}, {"a": head(4)})
    root = entries[1].model_copy(update={"root": "0" * 64})
    assert check([entries[0], root, *entries[2:]]) == {(2, "changed")}
    # Rehashed without the key: the hash holds, the root and the HMAC do not.
    forged_leaves: list[Leaf] = [("a", 9, head(9).hash)]
    e = entries[1]
    rehashed = e.model_copy(
        update={
            "leaves": forged_leaves,
            "hash": anchor_hash(e.prev_hash, e.seq, e.at, e.root, forged_leaves),
        }
    )
    found = check([entries[0], rehashed, *entries[2:]])
    assert {(2, "changed"), (2, "bad_hmac"), (3, "broken_link")} <= found
    assert check([entries[0], entries[2], entries[3]]) == {(3, "missing")}
    assert check([entries[0], entries[2], entries[1], entries[3]]) >= {(2, "reordered")}
    assert check(list(entries[:3]), head=entries[3].head) == {(4, "truncated")}
    assert check(list(entries), head=None) == {(4, "no_head")}
    assert check(list(entries), key=None) == set()
    unsigned = anchored({"a": head(1)}, key=None)
    assert check(list(unsigned)) == {(1, "unsigned")}


def test_a_leaf_going_backwards_is_found() -> None:
    """An anchor job fooled into anchoring a rolled-back head (or a forged anchor)."""
    first = anchored({"a": head(5)})[0]
    back = seal_anchor(first.head, 2.0, advance({}, {"a": head(3)}), KEY)
    assert check([first, back]) >= {(2, "went_back")}


def test_an_unreadable_row_is_reported_and_the_rest_still_checked() -> None:
    entries = anchored({"a": head(1)}, {"a": head(2)})
    assert check([entries[0], Unreadable("anchor row seq 2", "bad"), entries[1]]) >= {
        (2, "unreadable")
    }
