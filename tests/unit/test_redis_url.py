"""``store.redis_url``: one node, a cluster's seeds or a Sentinel service, parsed at load."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway.core.redis_url import RedisUrl, parse_redis_url
from gateway.settings import load_settings


def test_a_single_node_url_is_kept_as_redis_py_reads_it() -> None:
    url = "redis://:s%40cret@cache.internal:6380/3?health_check_interval=5"
    parsed = parse_redis_url(url)
    assert parsed == RedisUrl(
        kind="single", hosts=(("cache.internal", 6380),), db=3, password="s@cret", url=url
    )
    assert parse_redis_url("redis://localhost").hosts == (("localhost", 6379),)
    assert parse_redis_url("rediss://u:p@h/0").tls
    assert parse_redis_url("redis://h/?db=5").db == 5


def test_a_cluster_url_lists_its_seeds() -> None:
    parsed = parse_redis_url("rediss+cluster://gw:pw@10.0.0.1:7000,10.0.0.2,[fd00::3]:7002")
    assert parsed.kind == "cluster"
    assert parsed.tls
    assert parsed.hosts == (("10.0.0.1", 7000), ("10.0.0.2", 6379), ("fd00::3", 7002))
    assert (parsed.username, parsed.password, parsed.db) == ("gw", "pw", 0)


def test_a_sentinel_url_names_the_sentinels_and_the_service() -> None:
    parsed = parse_redis_url(
        "rediss+sentinel://:pw@s1:26379,s2/sg-main/2"
        "?ssl_ca_certs=/etc/sg/ca.pem&sentinel_password=spw"
    )
    assert parsed.kind == "sentinel"
    assert parsed.hosts == (("s1", 26379), ("s2", 26379))
    assert (parsed.service, parsed.db, parsed.password) == ("sg-main", 2, "pw")
    assert (parsed.ca_certs, parsed.sentinel_password) == ("/etc/sg/ca.pem", "spw")
    assert parse_redis_url("rediss+sentinel://s1/x?ssl_cert_reqs=none").verify is False


def test_a_password_never_shows_in_the_value_or_its_errors() -> None:
    assert "hunter2" not in repr(parse_redis_url("redis+cluster://u:hunter2@h:1"))
    with pytest.raises(ValueError, match="database 0 only") as caught:
        parse_redis_url("redis+cluster://u:hunter2@h:1/4")
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("memcached://h:1", "unknown Redis URL scheme 'memcached://'"),
        ("unix:///tmp/redis.sock", "unknown Redis URL scheme"),
        ("redis://h1:1,h2:2", "a redis:// URL names one node"),
        ("redis+cluster://", "at least one host:port"),
        ("redis+cluster://h:1/2", "database 0 only"),
        ("redis+cluster://h:1?db=1", "unknown option 'db'"),
        ("redis+sentinel://s:1", "names the service"),
        ("redis+sentinel://s:1/svc/x", "the Redis database is a number"),
        ("redis+sentinel://s:1/svc/1/2", "unexpected path"),
        ("redis+cluster://h:99999", "port out of range"),
        ("redis+cluster://h:1,bad host:2", "not a host[:port]"),
        ("redis+cluster://h:1?ssl_ca_certs=/ca.pem", "need TLS"),
        ("rediss+cluster://h:1?ssl_cert_reqs=maybe", "ssl_cert_reqs is one of"),
        ("redis://h/x", "the Redis database is a number"),
    ],
)
def test_what_is_wrong_is_said(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_redis_url(url)


def test_the_settings_refuse_a_bad_url_at_load(tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text("store:\n  redis_url: redis+cluster://h:1/3\n")
    with pytest.raises(ValidationError, match="database 0 only"):
        load_settings(config)
    config.write_text("store:\n  redis_url: redis+sentinel://s1,s2/sg\n")
    store = load_settings(config).store
    assert store.redis is not None
    assert store.redis.service == "sg"
