"""The batches' parts, built once in the lifespan: the store the settings declare, the
service and routes' collaborators, and this worker's runner (None without a store)."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.batches.directory_store import DirectoryBatchStore
from gateway.batches.line import LineCaller
from gateway.batches.postgres_store import PostgresBatchStore
from gateway.batches.routes import BatchApi
from gateway.batches.runner import BatchRunner
from gateway.batches.service import BatchService
from gateway.batches.store import BatchStore
from gateway.identity.bearer import Authenticator
from gateway.pipeline.path import Pipeline
from gateway.settings import BatchStoreSettings, Settings
from gateway.telemetry.hub import Observability
from gateway.tenancy.directory import Directory


@dataclass(frozen=True, slots=True)
class Batches:
    api: BatchApi
    runner: BatchRunner | None

    @property
    def store(self) -> BatchStore | None:
        return self.api.service.store

    async def close(self) -> None:
        if self.store is not None:
            await self.store.close()


async def open_store(declared: BatchStoreSettings) -> BatchStore:
    if declared.dsn is not None:
        dsn = declared.dsn.get_secret_value()
        return await PostgresBatchStore.open(dsn, declared.schema_name)
    assert declared.path is not None, "the settings require one of them"
    return DirectoryBatchStore(declared.path)


async def build_batches(
    settings: Settings,
    pipeline: Pipeline,
    directory: Directory,
    authenticate: Authenticator,
    observability: Observability,
    owner: str,
) -> Batches:
    declared = settings.batches.store
    store = None if declared is None else await open_store(declared)

    service = BatchService(
        store, settings.batches, settings.server.max_body_bytes, observability.subject_ref
    )
    api = BatchApi(service, authenticate, settings.telemetry.subject_header)
    if store is None:
        return Batches(api, None)
    caller = LineCaller(pipeline, settings.telemetry.subject_header)
    runner = BatchRunner(store, caller, directory.principal, settings.batches, owner)
    return Batches(api, runner)
