"""``store.redis_url``: which Redis deployment holds the shared state, parsed once at load.

::

    redis://[user:password@]host[:port][/db][?query]        one node (as redis-py reads it)
    rediss://...                                             the same over TLS
    redis+cluster://[user:password@]h1:p1,h2:p2,h3:p3[?q]   a Redis Cluster: seed nodes
    redis+sentinel://[user:password@]s1:p1,s2:p2/service[/db][?q]   Sentinel: the master of
                                                             ``service``; sentinels' addresses
    rediss+cluster://..., rediss+sentinel://...              over TLS

A single node's URL goes to redis-py unchanged (``Redis.from_url``), so it keeps working
exactly as before. For a cluster and a sentinel service, ``user:password`` are the data
nodes' credentials; the query may name ``ssl_ca_certs`` (a CA file, with TLS),
``ssl_cert_reqs`` (``required``, the default, or ``none``) and, for sentinels with their
own ACL, ``sentinel_username`` / ``sentinel_password``. Default ports: 6379 (nodes), 26379
(sentinels). A cluster has database 0 only. Parsing is pure: ``ValueError`` names what is
wrong and never echoes a password.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

Kind = Literal["single", "cluster", "sentinel"]

_SCHEMES: dict[str, tuple[Kind, bool]] = {
    "redis": ("single", False),
    "rediss": ("single", True),
    "redis+cluster": ("cluster", False),
    "rediss+cluster": ("cluster", True),
    "redis+sentinel": ("sentinel", False),
    "rediss+sentinel": ("sentinel", True),
}
_QUERY = {
    "single": None,  # anything redis-py's from_url accepts
    "cluster": {"ssl_ca_certs", "ssl_cert_reqs"},
    "sentinel": {"ssl_ca_certs", "ssl_cert_reqs", "sentinel_username", "sentinel_password"},
}
_HOST = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<name>[A-Za-z0-9._-]+))(?::(?P<port>\d+))?$")
_SERVICE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


@dataclass(frozen=True, slots=True)
class RedisUrl:
    kind: Kind
    hosts: tuple[tuple[str, int], ...]  # the node, the seeds or the sentinels
    tls: bool = False
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    service: str | None = None  # sentinel only
    ca_certs: str | None = None
    verify: bool = True
    sentinel_username: str | None = None
    sentinel_password: str | None = field(default=None, repr=False)
    url: str = field(default="", repr=False)  # as configured (a single node's goes to redis-py)


def parse_redis_url(url: str) -> RedisUrl:
    """The deployment ``url`` names; ``ValueError`` saying what is wrong."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ValueError(f"not a Redis URL: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in _SCHEMES:
        known = ", ".join(f"{s}://" for s in _SCHEMES)
        raise ValueError(f"unknown Redis URL scheme {scheme + '://'!r}: use one of {known}")
    kind, tls = _SCHEMES[scheme]
    userinfo, _, hostlist = parts.netloc.rpartition("@")
    username, password = _credentials(userinfo)
    if parts.fragment:
        raise ValueError("a Redis URL has no #fragment")
    query = _query(parts.query, kind)
    hosts = _hosts(hostlist, 26379 if kind == "sentinel" else 6379, several=kind != "single")
    segments = [unquote(s) for s in parts.path.split("/")[1:] if s != ""]
    db, service = 0, None
    if kind == "sentinel":
        if not segments or not _SERVICE.match(segments[0]):
            raise ValueError(
                "a Sentinel URL names the service after the sentinels: "
                "redis+sentinel://host:26379,host:26379/<service>[/<db>]"
            )
        service, segments = segments[0], segments[1:]
    if len(segments) > 1:
        raise ValueError(f"unexpected path in a Redis URL: {parts.path!r}")
    if segments:
        db = _db(segments[0])
    if kind == "cluster" and db != 0:
        raise ValueError("Redis Cluster has database 0 only: drop the /<db> from the URL")
    if "db" in query and kind == "single":
        db = _db(query["db"])
    verify = query.get("ssl_cert_reqs", "required").lower() != "none"
    if (query.get("ssl_ca_certs") or "ssl_cert_reqs" in query) and not tls and kind != "single":
        raise ValueError("ssl_ca_certs / ssl_cert_reqs need TLS: use the rediss+ scheme")
    return RedisUrl(
        kind=kind,
        hosts=hosts,
        tls=tls,
        db=db,
        username=username,
        password=password,
        service=service,
        ca_certs=query.get("ssl_ca_certs"),
        verify=verify,
        sentinel_username=query.get("sentinel_username"),
        sentinel_password=query.get("sentinel_password"),
        url=url,
    )


def _credentials(userinfo: str) -> tuple[str | None, str | None]:
    if not userinfo:
        return None, None
    user, colon, password = userinfo.partition(":")
    if not colon:
        # redis-py reads "redis://secret@host" as a password (Redis before ACLs had no users).
        return None, unquote(user)
    return (unquote(user) or None), unquote(password)


def _query(raw: str, kind: Kind) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, found in parse_qs(raw, keep_blank_values=True).items():
        allowed = _QUERY[kind]
        if allowed is not None and name not in allowed:
            known = ", ".join(sorted(allowed))
            raise ValueError(f"unknown option {name!r} in a {kind} Redis URL (known: {known})")
        values[name] = found[-1]
    if values.get("ssl_cert_reqs", "required").lower() not in {"required", "none", "optional"}:
        raise ValueError("ssl_cert_reqs is one of required, optional, none")
    return values


def _hosts(hostlist: str, default_port: int, *, several: bool) -> tuple[tuple[str, int], ...]:
    if not hostlist:
        if several:
            raise ValueError("a cluster or Sentinel URL lists at least one host:port")
        return (("localhost", default_port),)  # as redis-py: redis:// alone is localhost
    items = hostlist.split(",")
    if len(items) > 1 and not several:
        raise ValueError(
            "a redis:// URL names one node; for several, use redis+cluster:// (a cluster's "
            "seed nodes) or redis+sentinel://.../<service> (sentinels)"
        )
    hosts: list[tuple[str, int]] = []
    for item in items:
        match = _HOST.match(item.strip())
        if match is None:
            raise ValueError(f"not a host[:port] in the Redis URL: {item.strip()!r}")
        host = match["v6"] or match["name"]
        port = int(match["port"]) if match["port"] else default_port
        if not 0 < port < 65536:
            raise ValueError(f"port out of range in the Redis URL: {port}")
        if (host, port) not in hosts:
            hosts.append((host, port))
    return tuple(hosts)


def _db(text: str) -> int:
    if not text.isdigit():
        raise ValueError(f"the Redis database is a number, not {text!r}")
    return int(text)
