"""One settings root, from a YAML file plus ``SOVEREIGN_*`` environment variables.

Priority, highest first: values passed to the constructor, the environment (nested with
``__``, e.g. ``SOVEREIGN_SERVER__PORT=9000``), the YAML file, the defaults. Built once in
``main`` and passed down; nothing else reads the environment.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from gateway.console.settings import ConsoleSettings
from gateway.core.limits import Limits
from gateway.core.names import (
    DisconnectMode,
    Identifier,
    Jurisdiction,
    PolicyName,
    WatermarkMode,
)
from gateway.core.redis_url import RedisUrl, parse_redis_url
from gateway.core.tenant import TenantSpec
from gateway.identity.roles import Role
from gateway.identity.settings import IdentitySettings
from gateway.provenance.settings import ProvenanceSettings, WatermarkSettings

StrategyName = Literal["round_robin", "least_load", "affinity"]
KEY_HASH_PATTERN = re.compile(r"^(sha256|hmac-sha256):[0-9a-f]{64}$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    workers: int = Field(1, ge=1, le=64)
    # Largest request body accepted, in bytes; larger bodies get a 413 before being read whole.
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    # A request head (request line and headers) past either limit gets a 431 and the
    # connection is closed, before authentication and before the head is buffered whole.
    max_header_count: int = Field(100, ge=10, le=10_000)
    max_header_bytes: int = Field(32 * 1024, ge=1024, le=1024 * 1024)
    # Seconds a client has to send a whole request head, from its connection or its first
    # byte on a kept-alive one; then the connection is closed (a stalled, half-sent head).
    header_read_timeout: float = Field(10.0, gt=0, le=300)
    # Seconds an idle keep-alive connection is kept open between requests.
    keep_alive_timeout: float = Field(5.0, gt=0, le=3600)


class UpstreamSettings(_Section):
    """Timeouts (seconds) and connection limits of the httpx client to the engines."""

    connect_timeout: float = Field(3.0, gt=0)
    # Longest silence between two chunks of an engine's answer (prefill of a long prompt
    # under load can take a while; a stalled engine must not hold a client forever).
    read_timeout: float = Field(300.0, gt=0)
    write_timeout: float = Field(30.0, gt=0)
    pool_timeout: float = Field(5.0, gt=0)
    max_connections: int = Field(1024, ge=1)
    max_keepalive_connections: int = Field(256, ge=0)
    keepalive_expiry: float = Field(30.0, ge=0)
    health_timeout: float = Field(2.0, gt=0)


class PoolSettings(_Section):
    name: Identifier
    jurisdiction: Jurisdiction
    site: Identifier
    gpu: Identifier = "cpu"
    engines: list[AnyHttpUrl] = Field(min_length=1)
    models: list[Identifier] = Field(min_length=1)
    # Data this pool is cleared for beyond ordinary personal data (e.g. "special-category"
    # for GDPR Art. 9 data): a policy's `route` action sends such prompts only here.
    data_classes: list[PolicyName] = Field(default_factory=list)
    # Launch profile of its engines (serving/profiles.py, e.g. "b200/llama-3.1-8b"): gives the
    # per-engine concurrency cap (its max_num_seqs) unless max_concurrency says otherwise.
    profile: str | None = None
    max_concurrency: int | None = Field(None, ge=1)
    # Routing strategy for this pool's models (routing.strategies); unset: routing.strategy.
    strategy: StrategyName | None = None
    # The engines' own key, if they run with `vllm serve --api-key` (set it via the env).
    api_key: SecretStr | None = None
    # The models' context length (prompt plus completion tokens, vLLM's --max-model-len);
    # unset: read from the engines' /v1/models cards. Larger max_tokens are refused (400).
    max_model_len: int | None = Field(None, ge=1)
    # The text watermark (EU AI Act Art. 50(2); gateway/upstream/watermark.py): "on" marks
    # every answer, "client" those a request (vllm_xargs.sovereign_watermark) or its tenant
    # (tenants[].watermark) asks for, "off" none. The gateway sets the switch, whatever the
    # client sent. Not off: the engines run the logits processor keyed as `watermark`.
    watermark: WatermarkMode = "off"

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, value: str | None) -> str | None:
        from serving.profiles import PROFILES  # data only; imported late to keep settings light

        if value is not None and value not in PROFILES:
            raise ValueError(f"unknown launch profile; known: {', '.join(sorted(PROFILES))}")
        return value

    @field_validator("engines")
    @classmethod
    def _no_duplicate_engines(cls, engines: list[AnyHttpUrl]) -> list[AnyHttpUrl]:
        if len({str(e) for e in engines}) != len(engines):
            raise ValueError("an engine URL is listed twice")
        return engines


# Per tenant, or per key (on top of its tenant's): the one Limits model (gateway/core).
LimitsSettings = Limits


class ApiKeySettings(_Section):
    id: Identifier
    # "sha256:<hex>" or, with a pepper configured, "hmac-sha256:<hex>"; never the key itself.
    hash: str
    limits: LimitsSettings | None = None

    @field_validator("hash")
    @classmethod
    def _is_hash(cls, value: str) -> str:
        if not KEY_HASH_PATTERN.match(value):
            raise ValueError(
                "must be 'sha256:<64 hex>' or 'hmac-sha256:<64 hex>' "
                "(make one with `sovereign-gateway keys new`); clear-text keys are refused"
            )
        return value


class TenantSettings(TenantSpec):
    """A tenant the store is bootstrapped with: its specification (gateway/core/tenant.py),
    plus keys (more can be issued through the admin API)."""

    api_keys: list[ApiKeySettings] = Field(default_factory=list)


class RoutingSettings(_Section):
    """Engine choice among the candidates residency allows, and resilience (gateway/routing)."""

    strategy: StrategyName = "least_load"  # round_robin | least_load | affinity
    per_model: dict[str, StrategyName] = Field(default_factory=dict)
    scrape_interval: float = Field(0.5, gt=0)  # engines' /health and /metrics
    stale_after: float = Field(1.5, gt=0)  # older load data is not trusted as idle
    max_attempts: int = Field(3, ge=1, le=10)  # engines tried per request (first + retries)
    retry_budget_ratio: float = Field(0.2, ge=0, le=1)  # retries per request, at most
    breaker_failures: int = Field(3, ge=1)  # consecutive failures that open a circuit
    breaker_open_seconds: float = Field(5.0, gt=0)  # then one probe (half-open)
    # Affinity: the session key is this header, else the OpenAI `user` field.
    session_header: str = "x-session-id"
    affinity_load_factor: float = Field(1.25, ge=1.0)
    # A client marks batch work with x-sovereign-priority: batch; interactive goes first.
    queue_timeout_interactive: float = Field(5.0, gt=0)  # seconds a request may wait for a
    queue_timeout_batch: float = Field(60.0, gt=0)  # free engine slot, then 429/503
    max_queue: int = Field(1024, ge=0)


class SinkSettings(_Section):
    """A destination of data, with where it is and who runs it: declared, never assumed."""

    jurisdiction: Jurisdiction
    operator: str = Field(min_length=1, max_length=200)


class LogSinkSettings(SinkSettings):
    # JSON lines appended here (a volume in the jurisdiction); unset: this process's stdout.
    path: Path | None = None


class AuditSinkSettings(SinkSettings):
    # PostgreSQL (set the DSN through the environment) or, else, a JSON-lines file.
    dsn: SecretStr | None = None
    path: Path | None = None
    # Optional: every record's hash is also HMAC-signed with this key.
    hmac_key: SecretStr | None = None
    # PostgreSQL: each replica appends to a chain of its own, named this (default: the
    # replica's id, metering.gateway_id, else host name and process id: a new chain per
    # start); every anchor_interval seconds one replica commits every chain's head into
    # the anchor chain (gateway/audit/anchor.py).
    chain: str | None = Field(None, min_length=1, max_length=200)
    anchor_interval: float = Field(5.0, gt=0, le=3600)
    schema_name: str = Field("public", pattern=r"^[a-z_][a-z0-9_]{0,40}$")  # PostgreSQL


class ContentSinkSettings(SinkSettings):
    # Masked prompt and answer text of tenants whose policy sets log_content: JSON lines here.
    path: Path


class TraceSinkSettings(SinkSettings):
    endpoint: AnyHttpUrl  # an OTLP/HTTP collector, e.g. http://otel.intern:4318


class MetricsEndpointSettings(SinkSettings):
    """Prometheus /metrics on its own port; the Prometheus that scrapes it is declared here."""

    host: str = "127.0.0.1"
    port: int = Field(9464, ge=1, le=65535)


class BatchStoreSettings(SinkSettings):
    """Where uploaded files, batches and their results are kept: PostgreSQL (set the DSN
    through the environment) or a directory (a volume in the jurisdiction); exactly one."""

    dsn: SecretStr | None = None
    path: Path | None = None
    schema_name: str = Field("sovereign_batches", pattern=r"^[a-z_][a-z0-9_]{0,40}$")

    @model_validator(mode="after")
    def _one_place(self) -> BatchStoreSettings:
        if (self.dsn is None) == (self.path is None):
            raise ValueError("set exactly one of dsn (PostgreSQL) and path (a directory)")
        return self


class BatchSettings(_Section):
    """``/v1/files`` and ``/v1/batches`` (gateway/batches/): off until a store is declared."""

    store: BatchStoreSettings | None = None
    # An uploaded JSONL file: at most this many bytes (and never more than
    # server.max_body_bytes, the edge's limit on every request body) and this many lines.
    max_file_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    max_lines: int = Field(50_000, ge=1)
    # Files, batches and results are deleted this many days after they were made (a tenant's
    # retention_days, if shorter, wins). OpenAI keeps batch files 30 days.
    retention_days: int = Field(30, ge=1)
    # Lines of one batch in flight at once, and batches one worker runs at once: at batch
    # priority, behind every interactive request (routing admission).
    concurrency: int = Field(4, ge=1, le=256)
    max_active: int = Field(2, ge=1, le=64)
    # How often a worker looks for batches to run (and expired data to delete), and how long
    # its claim on a batch lasts unless renewed (another worker takes over after that).
    poll_interval: float = Field(2.0, gt=0)
    lease_seconds: float = Field(30.0, ge=1)
    # A line refused for the moment (429 limits, 503 engines saturated) is retried after
    # this many seconds, doubling up to retry_max, until the completion window ends.
    retry_after: float = Field(1.0, gt=0)
    retry_max: float = Field(60.0, gt=0)


class TelemetrySettings(_Section):
    """Where logs, audit records, traces and metrics go (README: "Logs, audit, telemetry")."""

    # Every sink, store, exporter and engine must lie in one of these, or the gateway refuses
    # to start.
    allowed_jurisdictions: list[Jurisdiction] = Field(default_factory=lambda: ["DE"], min_length=1)
    # Where this process runs: its stdout and local files are here.
    host_jurisdiction: Jurisdiction = "DE"
    host_operator: str = "self"
    logs: LogSinkSettings | None = None  # None: JSON lines on stdout
    audit: AuditSinkSettings | None = None  # None: a JSON-lines file under audit_dir
    audit_dir: Path = Path("audit")
    # What each request leaves behind (span end, metrics, log line, audit record) is
    # recorded in one batch this often, after the answer was sent: no request waits for it,
    # and the audit gets one write (one fsync, or one transaction) per batch. A crash loses
    # at most this window; a clean shutdown records what is pending. 0: each at once.
    flush_interval_ms: int = Field(250, ge=0, le=5000)
    # Content logs (only for policies with log_content): None means content.jsonl under
    # audit_dir, on this host.
    content: ContentSinkSettings | None = None
    traces: TraceSinkSettings | None = None  # None: no traces leave the process
    metrics: MetricsEndpointSettings | None = None  # None: no /metrics port
    # The data subject of a request (GDPR Art. 17 erasure): this header, else the OpenAI
    # `user` field; stored only as an HMAC reference.
    subject_header: str = "x-sovereign-subject"
    retention_days: int = Field(90, ge=1)  # audit and content logs, unless a tenant says less


class PrivacySettings(_Section):
    """The GDPR policy engine (policies/): which policies exist and how they are applied."""

    # Applied to tenants that name no policy; null turns filtering off for them (not advised).
    default_policy: PolicyName | None = "gdpr-default"
    # Extra policy files (YAML, the presets' format), beside the presets shipped in policies/.
    policy_files: list[Path] = Field(default_factory=list)
    # A client may name its conversation (stable placeholders across turns); otherwise the
    # gateway derives it from the conversation's first messages.
    conversation_header: str = "x-sovereign-conversation-id"
    # How long a conversation's pseudonym map lives after its last use.
    vault_ttl_seconds: int = Field(86_400, ge=60)
    # Threads running the analyzer (CPU-bound, off the event loop). Tenants share them fairly
    # (gateway/privacy/fair.py): one tenant never holds all of them while another waits.
    analysis_threads: int = Field(2, ge=1, le=64)
    # The most a request may give the analysis, checked before any analysis and before
    # admission (400 analysis_limit_exceeded, nothing charged): characters over all its texts
    # (~128k tokens, a long-context prompt, in ~175 ms of analysis of ordinary prose) ...
    max_analysed_chars: int = Field(500_000, ge=1)
    # ... and texts (messages' contents and text parts, tool-call arguments, prompts,
    # embedding inputs): twice OpenAI's 2,048 embedding inputs.
    max_analysed_items: int = Field(4_096, ge=1)
    # "fifo" is the former first-come-first-served thread pool, kept only so that
    # loadtest.analysis_flood can measure what the fair scheduler changes. Never in production.
    analysis_scheduling: Literal["fair", "fifo"] = "fair"
    # A request whose texts are this short in all is analysed on the event loop, not in a
    # thread: at most a few hundred microseconds, less than the thread hop would cost.
    inline_analysis_chars: int = Field(200, ge=0, le=2000)


class StoreSettings(_Section):
    """Where tenants, keys, limits and the usage ledger live.

    With ``redis_url`` unset, an in-process store serves a single replica (a one-machine
    demo): limits are per process and the ledger is lost on restart.
    """

    # One node (redis://h:p/db), a cluster (redis+cluster://h1:p1,h2:p2,...) or a Sentinel
    # service (redis+sentinel://s1:p1,s2:p2/service[/db]); rediss... over TLS
    # (gateway/core/redis_url.py).
    redis_url: str | None = None
    # Kept short: a slow Redis must turn into the degraded mode quickly, not into latency.
    socket_timeout: float = Field(0.5, gt=0)
    connect_timeout: float = Field(0.5, gt=0)
    # After a Redis failure, requests go straight to the degraded mode for this long.
    retry_after_failure: float = Field(1.0, ge=0)
    # How often replicas re-read the tenant/key directory (revocation delay, worst case).
    directory_poll_interval: float = Field(0.25, gt=0, le=1.0)
    # A request's concurrency lease expires after this long if its replica dies (a backstop:
    # live replicas settle a dead one's admissions within about orphan_sweep_interval + 15 s).
    lease_seconds: float = Field(900.0, gt=0)
    # How often each replica looks for admissions whose replica died (gateway/quota/pending.py),
    # and how long a replica may be silent before it counts as dead (it beats 3x as often).
    orphan_sweep_interval: float = Field(10.0, gt=0)
    replica_heartbeat_ttl: float = Field(15.0, gt=0)
    # How long Redis remembers that a request id was metered (its exactly-once marker), in
    # minutes: Redis memory is rate x TTL x ~250 bytes (measured; 1,000 req/s for 10 min:
    # ~0.15 GB). Longer than a replica's heartbeat TTL and the spool's replay interval by far;
    # past it the durable ledger is the authority (gateway/ledger/__init__.py).
    marker_ttl_minutes: float = Field(10.0, gt=0, le=7 * 24 * 60)
    # Where the Redis holding the ledger and the pseudonym vault runs, and who runs it:
    # required with redis_url (the gateway refuses to start without them).
    jurisdiction: Jurisdiction | None = None
    operator: str | None = None

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, url: str | None) -> str | None:
        if url is not None:
            parse_redis_url(url)  # its ValueError says what is wrong
        return url

    @property
    def redis(self) -> RedisUrl | None:
        """``redis_url`` parsed: which deployment, where."""
        return None if self.redis_url is None else parse_redis_url(self.redis_url)


class MeteringSettings(_Section):
    # The durable usage ledger (gateway/ledger): a PostgreSQL DSN (set it through the
    # environment), required with store.redis_url, with where it runs and who runs it.
    # Unset without Redis: the embedded gateway keeps its ledger in memory.
    ledger_dsn: SecretStr | None = None
    ledger_jurisdiction: Jurisdiction | None = None
    ledger_operator: str | None = None
    ledger_schema: str = Field("sovereign_ledger", pattern=r"^[a-z_][a-z0-9_]{0,40}$")
    # Records on their way from Redis to the ledger: each tenant's hand-off stream holds at
    # most this many (~1 KB each); beyond it records go to the disk spool until it drains.
    handoff_max: int = Field(100_000, ge=1)
    # Each replica ships every this many seconds, in batches of ship_batch records, and
    # takes over what a dead replica read but never stored after ship_claim_after seconds.
    ship_interval: float = Field(0.25, gt=0)
    ship_batch: int = Field(500, ge=1, le=10_000)
    ship_claim_after: float = Field(30.0, gt=0)
    # Whole records are kept this long (billing; German commercial and tax law: 10 years),
    # then dropped a month at a time; the subject reference goes after the tenant's retention.
    billing_retention_days: int = Field(3650, ge=1)
    # Usage records that could not be written to Redis wait here (one JSON line each) and
    # are replayed when it is back. Must be on a persistent volume in production.
    spool_dir: Path = Path("var/spool")
    replay_interval: float = Field(2.0, gt=0)
    # Completion tokens assumed for admission when a request sets no max_tokens.
    default_completion_tokens: int = Field(256, ge=1)
    # When a client leaves before its answer is complete (a stream it stops reading, a whole
    # answer it stops waiting for): "abort" closes the connection to the engine, which stops
    # generating at once; "finish" lets the engine complete the request for nobody and meters
    # exactly what it generated. A tenant may choose otherwise (tenants[].on_client_disconnect).
    # How an aborted request is metered: README, "Metering".
    on_client_disconnect: DisconnectMode = "abort"
    # Name of this replica in the ledger (default: host name and process id).
    gateway_id: str | None = None


class AdminToken(_Section):
    """A named automation credential of the admin API, with the roles it acts in."""

    id: Identifier  # in the audit trail as "token:<id>"
    hash: str  # same formats as API keys
    roles: list[Role] = Field(min_length=1)
    tenant: Identifier | None = None  # required with (and only with) tenant_admin

    @field_validator("hash")
    @classmethod
    def _is_hash(cls, value: str) -> str:
        if not KEY_HASH_PATTERN.match(value):
            raise ValueError("must be 'sha256:<64 hex>' or 'hmac-sha256:<64 hex>'")
        return value

    @model_validator(mode="after")
    def _tenant_admin_has_a_tenant(self) -> AdminToken:
        if (Role.TENANT_ADMIN in self.roles) != (self.tenant is not None):
            raise ValueError("'tenant' is required with the tenant_admin role, and only with it")
        return self


class AdminSettings(_Section):
    # Hash of the admin credential (same formats as API keys; `sovereign-gateway keys new`):
    # a platform admin. The admin API is off (404) unless it, a named token or an identity
    # issuer with a role_map is configured.
    token_hash: str | None = None
    # Named automation tokens with roles (an auditor's export job, a tenant's own tooling).
    tokens: list[AdminToken] = Field(default_factory=list)

    @field_validator("token_hash")
    @classmethod
    def _is_hash(cls, value: str | None) -> str | None:
        if value is not None and not KEY_HASH_PATTERN.match(value):
            raise ValueError("must be 'sha256:<64 hex>' or 'hmac-sha256:<64 hex>'")
        return value

    @model_validator(mode="after")
    def _unique(self) -> AdminSettings:
        ids = [t.id for t in self.tokens]
        hashes = [t.hash for t in self.tokens] + ([self.token_hash] if self.token_hash else [])
        if len(set(ids)) != len(ids) or len(set(hashes)) != len(hashes):
            raise ValueError("admin token ids and hashes must be unique")
        return self


class SecuritySettings(_Section):
    # Optional server-side secret mixed into key hashes (HMAC), so a leaked config alone
    # cannot be used to test guessed keys offline. Set it through the environment.
    key_pepper: SecretStr | None = None
    # Key of the pseudonym vault (base64 of 32 random bytes, `sovereign-gateway keys vault`):
    # values are AES-GCM encrypted in Redis and indexed by HMAC under keys derived from it.
    # Required with a shared store (every replica needs the same); the embedded store makes
    # a random one per process when it is unset.
    pseudonym_key: SecretStr | None = None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SOVEREIGN_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    server: ServerSettings = ServerSettings()
    upstream: UpstreamSettings = UpstreamSettings()
    security: SecuritySettings = SecuritySettings()
    store: StoreSettings = StoreSettings()
    metering: MeteringSettings = MeteringSettings()
    admin: AdminSettings = AdminSettings()
    privacy: PrivacySettings = PrivacySettings()
    routing: RoutingSettings = RoutingSettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    batches: BatchSettings = BatchSettings()
    identity: IdentitySettings = IdentitySettings()
    console: ConsoleSettings = ConsoleSettings()
    provenance: ProvenanceSettings = ProvenanceSettings()  # signed answers: gateway/provenance
    # The text watermark's scheme (the engines' key and strength), for detection; required
    # when a pool's watermark is not off.
    watermark: WatermarkSettings | None = None
    pools: list[PoolSettings] = Field(default_factory=list)
    tenants: list[TenantSettings] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self) -> Settings:
        _require_unique("pool name", [p.name for p in self.pools])
        _require_unique("tenant id", [t.id for t in self.tenants])
        _require_unique("api key id", [k.id for t in self.tenants for k in t.api_keys])
        _require_unique("api key hash", [k.hash for t in self.tenants for k in t.api_keys])
        engines = [str(e) for p in self.pools for e in p.engines]
        _require_unique("engine URL (across pools)", engines)
        marking = [p.name for p in self.pools if p.watermark != "off"]
        if marking and self.watermark is None:
            raise ValueError(
                f"pools {marking} mark answers with the text watermark: set the `watermark` "
                "section (the engines' key and strength) so that it can be detected"
            )
        issuers = {i.name for i in self.identity.issuers}
        for tenant in self.tenants:
            unknown = sorted(set(tenant.jwt_issuers) - issuers)
            if unknown:
                raise ValueError(f"tenant {tenant.id!r}: unknown jwt_issuers {unknown}")
        if self.console.enabled and self.console.issuer not in issuers:
            raise ValueError("console.issuer must name one of identity.issuers")
        audiences = {i.name: i.audience for i in self.identity.issuers}
        if self.console.enabled and audiences.get(self.console.issuer or "") == (
            self.console.client_id
        ):
            raise ValueError(  # else each ID token the console gets would be an API token too
                "console.client_id must differ from its issuer's API audience"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        yaml_file = settings_cls.model_config.get("yaml_file")
        if yaml_file is not None:
            sources.append(YamlConfigSettingsSource(settings_cls))
        return tuple(sources)


def _require_unique(what: str, values: list[str]) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate {what}: {value!r}")
        seen.add(value)


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build the settings root; ``config_file`` is the YAML file (it must exist)."""
    if config_file is None:
        return Settings(**overrides)
    if not config_file.is_file():
        raise FileNotFoundError(f"configuration file not found: {config_file}")

    class _FromFile(Settings):
        model_config = SettingsConfigDict(yaml_file=config_file)

    return _FromFile(**overrides)
