"""KV-cache blocks with vLLM's automatic prefix caching, counted rather than stored.

A block is either private to one sequence (partly filled, or holding generated tokens), or
shared and named by the chained hash of the prompt tokens it holds. A shared block nobody
uses any more stays cached, as *evictable*, until a new allocation needs its slot: vLLM
keeps freed blocks in a free queue in LRU order and evicts from its head. So the prefix cache
is bounded by the KV capacity, and an idle engine keeps its whole cache.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence


def blocks_for(tokens: int, block_size: int) -> int:
    return -(-tokens // block_size)


class BlockPool:
    def __init__(self, total_blocks: int) -> None:
        if total_blocks <= 0:
            raise ValueError("the KV cache needs at least one block")
        self.total = total_blocks
        self._empty = total_blocks  # slots holding nothing worth keeping
        self._refs: dict[int, int] = {}  # shared blocks in use: hash -> users
        self._evictable: OrderedDict[int, None] = OrderedDict()  # cached, unused; LRU first

    @property
    def free(self) -> int:
        """Blocks an allocation may take (evicting cached ones if it must)."""
        return self._empty + len(self._evictable)

    @property
    def used(self) -> int:
        return self.total - self.free

    @property
    def cached(self) -> int:
        return len(self._refs) + len(self._evictable)

    def usage(self) -> float:
        return self.used / self.total

    def cached_prefix(self, hashes: Sequence[int]) -> int:
        """How many leading blocks of a prompt are in the cache (in use or evictable)."""
        n = 0
        for h in hashes:
            if h not in self._refs and h not in self._evictable:
                break
            n += 1
        return n

    def evictable_among(self, hashes: Sequence[int]) -> int:
        """Of these cached blocks, how many would leave the free pool if reused."""
        return sum(1 for h in hashes if h in self._evictable)

    def take(self, n: int) -> None:
        """Allocate ``n`` private blocks; the caller checked ``free`` first."""
        if n > self.free:
            raise RuntimeError(f"KV cache: {n} blocks requested, {self.free} free")
        direct = min(n, self._empty)
        self._empty -= direct
        for _ in range(n - direct):
            self._evictable.popitem(last=False)  # the least recently used cached block

    def give_back(self, n: int) -> None:
        self._empty += n

    def acquire(self, h: int) -> None:
        """Start using a cached block (a prefix-cache hit)."""
        if h in self._refs:
            self._refs[h] += 1
        else:
            del self._evictable[h]
            self._refs[h] = 1

    def publish(self, h: int) -> None:
        """A private block now holds a full prompt block named ``h``: make it shareable.

        If another sequence computed the same block meanwhile, share that one and return the
        private slot (vLLM would keep a duplicate until it frees; the counts differ by little).
        """
        if h in self._refs:
            self._refs[h] += 1
            self._empty += 1
        elif h in self._evictable:
            del self._evictable[h]
            self._refs[h] = 1
            self._empty += 1
        else:
            self._refs[h] = 1

    def release(self, h: int) -> None:
        users = self._refs[h] - 1
        if users:
            self._refs[h] = users
        else:
            del self._refs[h]
            self._evictable[h] = None  # most recently used: evicted last
