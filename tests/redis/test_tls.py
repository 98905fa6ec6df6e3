"""The shared store over TLS against a real ``redis-server`` with plaintext off (``--port 0``):
a private CA and a server certificate made here (``cryptography``), one TLS node started once
for the module, and a 3-primary cluster whose bus and replication are TLS too.

The gateway's own path is used: ``Settings`` with ``store.redis_url`` ``rediss://...`` (or
``rediss+cluster://...``) -> ``gateway.stores.redis_client`` -> ``RedisQuotaStore``, whose
hot-path runner (``quota/resp.py``) and redis-py client (heartbeat, directory) must both verify
the CA named in the URL and the host name, and fail (redis-py's ``ConnectionError``: the
degraded mode) on any other trust, never talk plaintext.
"""

from __future__ import annotations

import datetime
import ipaddress
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest
import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, RedisError

from gateway.core.limits import Limits, Scope
from gateway.metering.service import STORE_DOWN
from gateway.quota.clients import close_client, runner_for
from gateway.quota.cluster_runner import ClusterRunner
from gateway.quota.keyspace import RedisClient
from gateway.quota.pending import heartbeat_key
from gateway.quota.redis_store import RedisQuotaStore, pending_key
from gateway.quota.resp import ScriptRunner
from gateway.settings import Settings
from gateway.stores import redis_client
from gateway.tenancy.records import KeyRecord, TenantRecord
from gateway.tenancy.store import RedisDirectoryStore
from tests.records import usage_record
from tests.redis_topology import HOST, Node, _start, _stop, free_ports, wait_for

# A second loopback address the server also listens on, but which its certificate does not name.
UNNAMED_HOST = "127.0.0.2"


@dataclass(frozen=True)
class Pki:
    ca: Path  # the private CA the server certificate is signed by
    other_ca: Path  # a CA that signed nothing here
    cert: Path  # the server's (and, in the cluster, every node's client) certificate
    key: Path


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


_CA_USAGE = x509.KeyUsage(
    digital_signature=True, content_commitment=False, key_encipherment=False,
    data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
    encipher_only=False, decipher_only=False,
)  # fmt: skip


def _ca(common: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common))
        .issuer_name(_name(common))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_CA_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def make_pki(folder: Path) -> Pki:
    ca_key, ca = _ca("sovereign-test-ca")
    _, other = _ca("sovereign-other-ca")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("redis-under-test"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pki = Pki(
        folder / "ca.pem", folder / "other-ca.pem", folder / "redis.pem", folder / "redis.key"
    )
    pki.ca.write_bytes(_pem(ca))
    pki.other_ca.write_bytes(_pem(other))
    pki.cert.write_bytes(_pem(cert))
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    pki.key.write_bytes(key_pem)
    return pki


def tls_argv(pki: Pki, port: int, *binds: str) -> list[str]:
    return [
        "redis-server", "--port", "0", "--tls-port", str(port), "--bind", *binds,
        "--tls-cert-file", str(pki.cert), "--tls-key-file", str(pki.key),
        "--tls-ca-cert-file", str(pki.ca), "--tls-auth-clients", "no",
        "--save", "", "--appendonly", "no", "--protected-mode", "no",
    ]  # fmt: skip


def tls_client(pki: Pki, port: int) -> redis.Redis:
    return redis.Redis(
        host=HOST, port=port, ssl=True, ssl_ca_certs=str(pki.ca),
        socket_timeout=2, socket_connect_timeout=1,
    )  # fmt: skip


def _pings(pki: Pki, port: int) -> bool:
    with tls_client(pki, port) as client:
        return bool(client.ping())


@dataclass(frozen=True)
class TlsRedis:
    pki: Pki
    port: int

    def url(self, host: str = HOST, query: str = "") -> str:
        return f"rediss://{host}:{self.port}/0" + (f"?{query}" if query else "")

    @property
    def verified_url(self) -> str:
        return self.url(query=f"ssl_ca_certs={self.pki.ca}")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def server(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsRedis]:
    folder = tmp_path_factory.mktemp("tls-redis")
    (port,) = free_ports(1)
    node = Node(port, "primary", _start(tls_argv(pki, port, HOST, UNNAMED_HOST), folder, "tls"))
    try:
        wait_for(partial(_pings, pki, port), f"TLS redis on {port}", timeout=15)
        yield TlsRedis(pki, port)
    finally:
        _stop([node])


@pytest.fixture
async def client(server: TlsRedis) -> AsyncIterator[RedisClient]:
    redis_ = redis_client(Settings(store={"redis_url": server.verified_url}))
    yield redis_
    await close_client(redis_)


def limited(tenant: str, requests: int) -> tuple[Scope, ...]:
    # A concurrency limit: an admission leaves a pending reservation until it is metered.
    limits = Limits(requests_per_minute=requests, concurrent=100)
    return (Scope(tenant, "tenant", limits),)


async def admit_and_meter(store: RedisQuotaStore, tenant: str) -> None:
    decisions = [await store.admit(limited(tenant, 2), 5, f"r-{n}") for n in range(3)]
    assert [d.allowed for d in decisions] == [True, True, False]
    assert await store.meter(usage_record(tenant, "r-0"), limited(tenant, 2))
    assert not await store.meter(usage_record(tenant, "r-0"), limited(tenant, 2))


async def test_the_gateway_admits_and_meters_over_tls(
    server: TlsRedis, client: RedisClient
) -> None:
    assert isinstance(runner_for(client, 1.0, 1.0), ScriptRunner)
    gateway = "gw-" + uuid.uuid4().hex[:8]
    store = RedisQuotaStore(client, gateway=gateway)
    tenant = "tls-" + uuid.uuid4().hex[:8]
    await admit_and_meter(store, tenant)  # the hot-path runner, over TLS
    await store.heartbeat()  # redis-py, over TLS
    assert await client.get(heartbeat_key(gateway)) == b"1"
    assert await client.hlen(pending_key(tenant)) == 1  # r-1 still reserved
    with tls_client(server.pki, server.port) as direct:
        assert direct.get(heartbeat_key(gateway)) == b"1"


async def test_the_directory_over_tls(client: RedisClient) -> None:
    store = RedisDirectoryStore(client)
    tenant_id = "tlsdir-" + uuid.uuid4().hex[:8]
    now = time.time()
    await store.put_tenant(TenantRecord(id=tenant_id, created_at=now, updated_at=now))
    key = KeyRecord(
        id=f"{tenant_id}-k", tenant=tenant_id, hash="sha256:" + "0" * 64, created_at=now
    )
    assert await store.add_key(key)
    snapshot = await store.snapshot()
    assert tenant_id in snapshot.tenants
    assert key.id in snapshot.keys


async def test_the_host_name_in_the_certificate_is_accepted(server: TlsRedis) -> None:
    url = server.url("localhost", f"ssl_ca_certs={server.pki.ca}")
    redis_ = redis_client(Settings(store={"redis_url": url}))
    try:
        store = RedisQuotaStore(redis_, gateway="gw-name")
        await admit_and_meter(store, "tlsname-" + uuid.uuid4().hex[:8])
        assert await redis_.ping()
    finally:
        await close_client(redis_)


def _untrusted_urls(server: TlsRedis) -> dict[str, str]:
    return {
        "system trust": server.url(),
        "another CA": server.url(query=f"ssl_ca_certs={server.pki.other_ca}"),
        "a host the certificate does not name": server.url(
            UNNAMED_HOST, f"ssl_ca_certs={server.pki.ca}"
        ),
    }


@pytest.mark.parametrize(
    "case", ["system trust", "another CA", "a host the certificate does not name"]
)
async def test_an_untrusted_server_is_a_clean_connection_error(server: TlsRedis, case: str) -> None:
    url = _untrusted_urls(server)[case]
    redis_ = redis_client(Settings(store={"redis_url": url}))
    store = RedisQuotaStore(redis_, gateway="gw-untrusted")
    tenant = "untrusted-" + uuid.uuid4().hex[:8]
    try:
        # The hot path and redis-py both refuse: the caller's degraded mode (STORE_DOWN).
        with pytest.raises(RedisConnectionError) as hot:
            await store.admit(limited(tenant, 5), 1, "r-1")
        with pytest.raises(RedisConnectionError) as meter:
            await store.meter(usage_record(tenant, "r-1"), limited(tenant, 5))
        with pytest.raises(RedisConnectionError) as heartbeat:
            await store.heartbeat()
        for raised in (hot, meter, heartbeat):
            assert isinstance(raised.value, STORE_DOWN)
            assert "CERTIFICATE_VERIFY_FAILED" in _chain(raised.value), _chain(raised.value)
    finally:
        await close_client(redis_)
    # Nothing was written: no plaintext fallback reached the server either way.
    with tls_client(server.pki, server.port) as direct:
        assert direct.exists(pending_key(tenant)) == 0


def _chain(exc: BaseException | None) -> str:
    texts: list[str] = []
    while exc is not None:
        texts.append(f"{type(exc).__name__}: {exc}")
        exc = exc.__cause__ or exc.__context__
    return " <- ".join(texts)


async def test_an_explicit_opt_out_of_verification_is_honoured(server: TlsRedis) -> None:
    # ssl_cert_reqs=none: encrypted, unverified (the operator said so), on both paths.
    redis_ = redis_client(Settings(store={"redis_url": server.url(query="ssl_cert_reqs=none")}))
    try:
        store = RedisQuotaStore(redis_, gateway="gw-unverified")
        await admit_and_meter(store, "tlsnone-" + uuid.uuid4().hex[:8])
        await store.heartbeat()
    finally:
        await close_client(redis_)


async def test_plaintext_to_the_tls_port_fails(server: TlsRedis) -> None:
    redis_ = redis_client(Settings(store={"redis_url": f"redis://{HOST}:{server.port}/0"}))
    try:
        with pytest.raises(STORE_DOWN):
            await RedisQuotaStore(redis_, gateway="gw-plain").admit(limited("plain", 5), 1, "r")
    finally:
        await close_client(redis_)


# A cluster over TLS: client connections, the cluster bus and replication.


@contextmanager
def tls_cluster(pki: Pki, folder: Path, primaries: int = 3) -> Iterator[list[int]]:
    ports = free_ports(primaries, bus=True)
    nodes: list[Node] = []
    try:
        for port in ports:
            argv = [
                *tls_argv(pki, port, HOST), "--tls-cluster", "yes", "--tls-replication", "yes",
                "--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf",
                "--dir", str(folder), "--cluster-node-timeout", "1500",
            ]  # fmt: skip
            nodes.append(Node(port, "primary", _start(argv, folder, f"node-{port}")))
        for port in ports:
            wait_for(partial(_pings, pki, port), f"TLS node {port}", timeout=15)
        subprocess.run(
            ["redis-cli", "--tls", "--cacert", str(pki.ca), "--cluster", "create",
             *(f"{HOST}:{p}" for p in ports), "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        for port in ports:
            wait_for(partial(_cluster_ok, pki, port), f"node {port} ok", timeout=30)
        yield ports
    finally:
        _stop(nodes)


def _cluster_ok(pki: Pki, port: int) -> bool:
    with tls_client(pki, port) as client:
        info = client.execute_command("CLUSTER", "INFO")
    text = info.decode() if isinstance(info, bytes) else str(info)
    return "cluster_state:ok" in text


@pytest.fixture(scope="module")
def cluster_ports(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[int]]:
    with tls_cluster(pki, tmp_path_factory.mktemp("tls-cluster")) as ports:
        yield ports


async def test_a_cluster_over_tls_admits_and_meters(pki: Pki, cluster_ports: list[int]) -> None:
    hosts = ",".join(f"{HOST}:{p}" for p in cluster_ports)
    settings = Settings(store={"redis_url": f"rediss+cluster://{hosts}?ssl_ca_certs={pki.ca}"})
    redis_ = redis_client(settings)
    try:
        assert isinstance(redis_, RedisCluster)
        assert isinstance(runner_for(redis_, 1.0, 1.0), ClusterRunner)
        store = RedisQuotaStore(redis_, gateway="gw-cluster")
        # Enough tenants that every primary serves some.
        tenants = ["tlscl-" + uuid.uuid4().hex[:8] for _ in range(30)]
        for tenant in tenants:
            await admit_and_meter(store, tenant)
        await store.heartbeat()
        assert await redis_.get(heartbeat_key("gw-cluster")) == b"1"
        served = {await _node_of(redis_, pending_key(t)) for t in tenants}
        assert len(served) == len(cluster_ports)
    finally:
        await close_client(redis_)


async def _node_of(client: RedisClient, key: str) -> int:
    assert isinstance(client, RedisCluster)
    node = client.get_node_from_key(key)
    assert node is not None
    return int(node.port)


@pytest.mark.parametrize("trust", ["system", "another CA"])
async def test_a_cluster_it_cannot_verify_is_a_clean_connection_error(
    pki: Pki, cluster_ports: list[int], trust: str
) -> None:
    hosts = ",".join(f"{HOST}:{p}" for p in cluster_ports)
    query = "" if trust == "system" else f"?ssl_ca_certs={pki.other_ca}"
    redis_ = redis_client(Settings(store={"redis_url": f"rediss+cluster://{hosts}{query}"}))
    store = RedisQuotaStore(redis_, gateway="gw-cluster-bad")
    try:
        # The cluster runner trusts no node to ask for the slot map: the degraded mode, and
        # the reason is on the error.
        with pytest.raises(RedisConnectionError) as hot:
            await store.admit(limited("tlscl-bad", 5), 1, "r-1")
        assert "CERTIFICATE_VERIFY_FAILED" in _chain(hot.value), _chain(hot.value)
        # redis-py's cluster client, never initialised, raises RedisClusterUnreachableError,
        # which is a RedisClusterException, not a RedisError (not in metering's STORE_DOWN).
        with pytest.raises((RedisError, RedisClusterException)) as heartbeat:
            await store.heartbeat()
        assert "CERTIFICATE_VERIFY_FAILED" in _chain(heartbeat.value), _chain(heartbeat.value)
    finally:
        await close_client(redis_)
