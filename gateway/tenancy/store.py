"""Where tenants and keys are kept: Redis (shared by every replica) or this process (embedded).

Every change bumps a version number; replicas poll it (a GET every 250 ms by default) and
reload on change, which is how a revocation reaches every replica within a second.

Redis layout: ``sg:{dir}:tenants`` (hash: tenant id -> JSON), ``sg:{dir}:keys`` (hash: key id
-> JSON) and ``sg:{dir}:version`` (counter). One hash tag, so that on Redis Cluster the three
share a slot and a change stays one transaction.

Releases before Redis Cluster support kept them as ``sg:dir:tenants|keys|version``. The first
replica of this release to read the directory copies them to the new names, in one script,
if the new version key does not exist yet (never again after: a copy made later would undo
changes made since). The old keys are left for a rollback; a change made through a replica of
the old release after the copy (during a rolling upgrade) is not seen by the new ones: make
changes, above all revocations, through the new release, or repeat them once every replica
runs it. A cluster never held the old names (the old release could not use one).

A record this release cannot read (a newer release's field during a rolling upgrade, or a
damaged value) is left out of the snapshot and named in ``Snapshot.unreadable``: that tenant
or key is unknown here (its requests get 401) while every other one is served and later
changes still apply. Nothing one record holds stops a replica from starting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from pydantic import BaseModel, ValidationError
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from gateway.tenancy.records import KeyRecord, TenantRecord

TENANTS = "sg:{dir}:tenants"
KEYS = "sg:{dir}:keys"
VERSION = "sg:{dir}:version"
OLD_KEYS = ("sg:dir:tenants", "sg:dir:keys", "sg:dir:version")  # before the hash tag

# Copy the old names to the new ones, unless the new directory exists already.
_MIGRATE = """
if redis.call('EXISTS', KEYS[6]) == 1 or redis.call('EXISTS', KEYS[3]) == 0 then return -1 end
local copied = 0
for i = 1, 2 do
  local pairs = redis.call('HGETALL', KEYS[i])
  for j = 1, #pairs, 2 do redis.call('HSET', KEYS[i + 3], pairs[j], pairs[j + 1]) end
  copied = copied + #pairs / 2
end
redis.call('SET', KEYS[6], tonumber(redis.call('GET', KEYS[3])) + 1)
return copied
"""


@dataclass(frozen=True, slots=True)
class Snapshot:
    version: int
    tenants: dict[str, TenantRecord]
    keys: dict[str, KeyRecord]
    # "tenant <id>" or "key <id>" -> why it was left out (pydantic's first error, no value)
    unreadable: dict[str, str] = field(default_factory=dict)


class DirectoryStore(Protocol):
    async def version(self) -> int: ...

    async def snapshot(self) -> Snapshot: ...

    async def put_tenant(self, tenant: TenantRecord) -> None: ...

    async def put_key(self, key: KeyRecord) -> None:
        """Insert or replace one key."""
        ...

    async def add_key(self, key: KeyRecord) -> bool:
        """Insert a key unless its id exists; True if inserted."""
        ...


class RedisDirectoryStore:
    def __init__(self, redis: Redis | RedisCluster) -> None:
        self._redis = redis
        self._migrated = isinstance(redis, RedisCluster)

    async def migrate(self) -> int:
        """Records copied from the old key names (-1: nothing to copy; see the docstring)."""
        self._migrated = True
        script = self._redis.register_script(_MIGRATE)
        return int(await script(keys=[*OLD_KEYS, TENANTS, KEYS, VERSION]))

    async def _ready(self) -> None:
        if not self._migrated:
            await self.migrate()

    async def version(self) -> int:
        await self._ready()
        return int(await self._redis.get(VERSION) or 0)

    async def tenant_ids(self) -> set[str]:
        """The ids of the tenants in the directory (HKEYS: no records parsed)."""
        await self._ready()
        ids: list[bytes | str] = await self._redis.hkeys(TENANTS)
        return {i.decode() if isinstance(i, bytes) else str(i) for i in ids}

    async def snapshot(self) -> Snapshot:
        await self._ready()
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.get(VERSION)
            pipe.hgetall(TENANTS)
            pipe.hgetall(KEYS)
            version, tenants, keys = await pipe.execute()
        unreadable: dict[str, str] = {}
        return Snapshot(
            int(version or 0),
            _readable(TenantRecord, "tenant", tenants, unreadable),
            _readable(KeyRecord, "key", keys, unreadable),
            unreadable,
        )

    async def _write(self, table: str, field: str, value: str) -> None:
        await self._ready()
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(table, field, value)
            pipe.incr(VERSION)
            await pipe.execute()

    async def put_tenant(self, tenant: TenantRecord) -> None:
        # Fields at their defaults are left out: a field a later release adds reaches the
        # records only where it is used, so replicas of the release before, during a rolling
        # upgrade, go on reading every other tenant (and default values read back the same).
        await self._write(TENANTS, tenant.id, tenant.model_dump_json(exclude_defaults=True))

    async def put_key(self, key: KeyRecord) -> None:
        await self._write(KEYS, key.id, key.model_dump_json())

    async def add_key(self, key: KeyRecord) -> bool:
        await self._ready()
        if not await self._redis.hsetnx(KEYS, key.id, key.model_dump_json()):
            return False
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(VERSION)
            await pipe.execute()
        return True


_Record = TypeVar("_Record", bound=BaseModel)


def _readable(
    model: type[_Record], kind: str, raw: Mapping[bytes, bytes], unreadable: dict[str, str]
) -> dict[str, _Record]:
    """The records of ``raw`` this release can read; the others named in ``unreadable``."""
    records: dict[str, _Record] = {}
    for name, value in raw.items():
        ident = name.decode(errors="replace")
        try:
            records[ident] = model.model_validate_json(value)
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False)[0]
            where = ".".join(str(part) for part in first["loc"]) or "record"
            unreadable[f"{kind} {ident}"] = f"{where}: {first['msg']}"
    return records


class MemoryDirectoryStore:
    """The embedded default: one process, nothing shared, nothing kept across restarts."""

    def __init__(self) -> None:
        self._version = 0
        self._tenants: dict[str, TenantRecord] = {}
        self._keys: dict[str, KeyRecord] = {}
        self.changed = asyncio.Event()

    async def version(self) -> int:
        return self._version

    async def snapshot(self) -> Snapshot:
        return Snapshot(self._version, dict(self._tenants), dict(self._keys))

    def _bump(self) -> None:
        self._version += 1
        self.changed.set()

    async def put_tenant(self, tenant: TenantRecord) -> None:
        self._tenants[tenant.id] = tenant
        self._bump()

    async def put_key(self, key: KeyRecord) -> None:
        self._keys[key.id] = key
        self._bump()

    async def add_key(self, key: KeyRecord) -> bool:
        if key.id in self._keys:
            return False
        await self.put_key(key)
        return True
