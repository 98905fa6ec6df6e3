"""Files and batches as stored and as OpenAI shows them: one model per concept.

A stored record is the OpenAI object plus what only the gateway knows (whose it is, which key
made it, the data subjects it is about, when it is deleted). ``public()`` is what a client
sees: exactly the fields of the openai SDK's ``FileObject`` and ``Batch``.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

BatchStatus = Literal[
    "validating",
    "failed",
    "in_progress",
    "finalizing",
    "completed",
    "expired",
    "cancelling",
    "cancelled",
]
# A worker picks these up (again, after a restart) until they end.
UNFINISHED: frozenset[str] = frozenset({"validating", "in_progress", "finalizing", "cancelling"})
FilePurpose = Literal["batch", "batch_output"]
# The ids the gateway makes; anything else is an unknown id (and never a path).
FILE_ID = r"^file-[0-9a-f]{32}$"
BATCH_ID = r"^batch_[0-9a-f]{32}$"


def new_file_id() -> str:
    return "file-" + os.urandom(16).hex()


def new_batch_id() -> str:
    return "batch_" + os.urandom(16).hex()


class _Stored(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant: str
    subject_refs: list[str] = Field(default_factory=list)  # erasure finds them by these
    delete_after: float  # retention: the sweep deletes it then


class StoredFile(_Stored):
    id: str
    bytes: int
    created_at: int
    filename: str
    purpose: FilePurpose
    lines: int = 0

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": self.bytes,
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "expires_at": int(self.delete_after),
            "status_details": None,
        }


class LineError(BaseModel):
    """One entry of a batch's ``errors.data`` (OpenAI's ``BatchError``)."""

    code: str
    message: str
    line: int | None = None
    param: str | None = None


class RequestCounts(BaseModel):
    total: int = 0
    completed: int = 0
    failed: int = 0


class StoredBatch(_Stored):
    id: str
    key_id: str  # its lines run as this key (revoked: they fail)
    subject: str | None = None  # the subject header of its creation, sent with every line
    endpoint: str
    input_file_id: str
    completion_window: str
    status: BatchStatus
    created_at: int
    expires_at: int  # the completion window's end
    metadata: dict[str, str] | None = None
    model: str | None = None
    in_progress_at: int | None = None
    finalizing_at: int | None = None
    completed_at: int | None = None
    failed_at: int | None = None
    expired_at: int | None = None
    cancelling_at: int | None = None
    cancelled_at: int | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    errors: list[LineError] | None = None
    request_counts: RequestCounts = Field(default_factory=RequestCounts)
    usage: dict[str, Any] | None = None

    def public(self) -> dict[str, Any]:
        shown = self.model_dump(exclude={"tenant", "subject_refs", "delete_after", "key_id",
                                         "subject", "errors"})  # fmt: skip
        shown["object"] = "batch"
        shown["errors"] = (
            None
            if self.errors is None
            else {"object": "list", "data": [e.model_dump() for e in self.errors]}
        )
        return shown


class LineResult(BaseModel):
    """One line's outcome, kept as the batch runs (a restarted batch resumes after it)."""

    index: int  # the line's position in the input file
    ok: bool  # True: in the output file; False: in the error file
    line: dict[str, Any]  # the result line, as written to its file
    usage: dict[str, Any] | None = None
