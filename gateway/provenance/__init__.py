"""Provenance of generated text (EU AI Act Art. 50(2)): every answer signed, and anyone able to
check it.

::

    settings.py     the ``provenance`` section: keys (rotation), default, deployer, limits; the
                    ``watermark`` section (the scheme the engines mark with)
    keys.py         signing keys (Ed25519/EdDSA or P-256/ES256), ephemeral key, the JWKS
    token.py        the token: a compact JWS over the answer's SHA-256 and its facts; verify
    answer_text.py  what "the text of an answer" is (whole or streamed), for its digest
    stream.py       a chat or completions stream's final provenance chunk, before ``[DONE]``
    typed_stream.py the token in the end event of a Responses API or Anthropic Messages stream
    service.py      whether a request's answer is signed (tenant, policy, default); signing; the
                    watermark detector the verify endpoint runs (``build_detector``)
    verify.py       the verify endpoint's logic: token verdict, watermark, rate limit
    routes.py       GET the JWKS at a well-known URL; POST /v1/provenance/verify
    cli.py          ``sovereign-gateway provenance verify``: the same check, offline
    watermark.py    the text watermark's detector (its own module; not signing)

Where it is delivered: a whole answer in the ``x-sovereign-provenance`` header; a chat or
completions stream in a last chunk before ``[DONE]`` (``stream.py`` says why not a named
SSE event); a Responses API stream in its ``response.completed`` (or ``response.incomplete``)
event's ``response.provenance``, an Anthropic Messages stream in its ``message_stop`` event's
``provenance`` (typed events, which their SDKs parse by type: ``typed_stream.py``, which also
says where each SDK keeps it); every signed request's audit record keeps its token
(``RequestAudit.provenance``, hashed into the chain), so the deployer can show later what it
stated. The token also states whether the engine was told to watermark the text
(``watermark``, decided per pool once routing chose the engine: ``gateway/upstream/
watermark.py``).

Whether an answer is signed (``service.signs``): its policy may require it
(``require_provenance``, e.g. for a public body); else the tenant's ``provenance`` (on, off);
else ``provenance.default``. Quick mode's ``--provenance`` turns the default on. A tenant's
setting is the platform's to change, not a tenant admin's (``gateway/admin/rules.py``): the
marking is the provider's duty under Art. 50(2), not the deployer's option.

Why a JWS and not C2PA. C2PA's manifests are built for files (JPEG, MP4, PDF) that carry an
embedded manifest store; plain text has no place to embed one, and its text binding
(unstructured text, an invisible-Unicode wrapper) was still a draft in 2026 and would change
the very text it signs, breaking the byte-exact answer the client asked for. c2pa-python
also pulls a native Rust library and X.509 certificate chains into every replica. A compact
JWS (RFC 7515) over the text's SHA-256 is a few hundred bytes in one header, signed with
Ed25519 (RFC 8037) or ES256, verifiable with any JOSE library against the published JWKS,
and leaves the answer untouched. Should C2PA's text binding settle, a manifest can carry the
same claims (as a ``c2pa.actions``/``ai_generated`` assertion) signed with the same key.

Why every answer is signed on the request path: Ed25519 signs in about 50 microseconds,
one parse of the answer's JSON more for a whole answer, one per event for a stream (only
for tenants who sign).
"""
