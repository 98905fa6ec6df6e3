"""Secrets pasted into prompts: API keys, access tokens, JWTs, private keys, passwords.

Vendor keys have fixed prefixes, so their patterns are case-sensitive and need no context.
Generic assignments ("api_key=...", "Passwort: ...") are reported only when the value looks
random, so "password: ********" or "Passwort: vergessen" stay untouched.
"""

from __future__ import annotations

from policies import offline  # noqa: F401  (must run before presidio is imported)

# isort: split
import math
import re
from collections import Counter

from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from policies.entities import SECRET
from policies.recognizers.base import Found, merge, result

WINDOW = 60  # characters before an AWS secret key that may name it

# Personal/project/group access, deploy, runner, trigger, feed, SCIM, CI job, incoming mail
# and agent tokens.
_GITLAB_PREFIXES = (
    "glpat-",
    "gldt-",
    "glrt-",
    "glptt-",
    "glft-",
    "glsoat-",
    "glcbt-",
    "glimt-",
    "glagent-",
)
# (name, hints, pattern, score): the pattern runs only when one of its hints (literal
# substrings) is in the text, so a text without key-like strings costs a few "in" tests.
_VENDOR_PATTERNS: tuple[tuple[str, tuple[str, ...], re.Pattern[str], float], ...] = (
    (
        "private key (PEM)",
        ("-----BEGIN",),
        re.compile(
            r"-----BEGIN (?P<kind>[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?)-----"
            # Truncated keys (no END line) run on over the lines that are all base64.
            r"(?:.*?-----END (?P=kind)-----|(?:[ \t]*\r?\n[ \t]*[A-Za-z0-9+/=]{20,}(?=\s|$))*)",
            re.DOTALL,
        ),
        1.0,
    ),
    ("Anthropic key", ("sk-ant-",), re.compile(r"(?<![\w-])sk-ant-[A-Za-z0-9_-]{20,}"), 1.0),
    (
        "OpenAI key",
        ("sk-",),
        re.compile(r"(?<![\w-])sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"),
        0.95,
    ),
    (
        "GitHub token",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
        re.compile(r"(?<!\w)gh[pousr]_[A-Za-z0-9]{36,255}(?!\w)"),
        1.0,
    ),
    (
        "GitHub token",
        ("github_pat_",),
        re.compile(r"(?<!\w)github_pat_[A-Za-z0-9_]{22,255}(?!\w)"),
        1.0,
    ),
    ("Hugging Face token", ("hf_",), re.compile(r"(?<!\w)hf_[A-Za-z0-9]{30,}(?!\w)"), 1.0),
    ("npm token", ("npm_",), re.compile(r"(?<!\w)npm_[A-Za-z0-9]{36}(?!\w)"), 1.0),
    (
        "GitLab token",
        _GITLAB_PREFIXES,
        # Routable tokens (GitLab 17.x) append ".01.<checksum>"-like dotted parts.
        re.compile(
            r"(?<![\w-])(?:" + "|".join(_GITLAB_PREFIXES) + r")[0-9A-Za-z_-]{20,}"
            r"(?:\.[0-9A-Za-z_-]+)*"
        ),
        1.0,
    ),
    (
        "AWS access key id",
        ("AKIA", "ASIA", "ABIA", "ACCA"),
        re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])"),
        0.95,
    ),
    ("Slack token", ("xox",), re.compile(r"(?<![\w-])xox[abprs]-[A-Za-z0-9-]{10,}"), 1.0),
    ("Google API key", ("AIza",), re.compile(r"(?<![\w-])AIza[0-9A-Za-z_-]{35}(?![\w-])"), 1.0),
    (
        "Stripe key",
        ("_live_", "_test_"),
        re.compile(r"(?<!\w)(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{16,}(?!\w)"),
        1.0,
    ),
    (
        "JWT",
        ("eyJ",),
        re.compile(r"(?<![\w-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
        0.95,
    ),
)
_BEARER = re.compile(r"\bBearer[ \t]+(?P<secret>[A-Za-z0-9._~+/-]{16,}=*)")
_AWS_SECRET = re.compile(r"(?<![A-Za-z0-9/+])(?P<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])")
_AWS_SECRET_CONTEXT = re.compile(r"(?i)aws_secret|secret.?access.?key|aws.{0,20}secret")
# Key names of generic assignments, searched in the lower-cased text.
_KEY = re.compile(
    r"api[ _-]?key|apikey|api[ _-]?schlüssel|schlüssel|secret|token|private[ _-]?key"
    r"|access[ _-]?key|passw(?:or)?[dt]|pwd|kennwort"
)
# After the key name: the rest of an identifier ("secret_access_key"), a closing quote, then
# "=", ":" or "lautet"/"ist"/"is", then the value ('"client_secret": "...", "PWD=...").
# Prose also writes the value right after the name ("the API key 05fb...c2 hits the limit"):
# the group ``bare`` marks that form, which needs a stricter value (``_bare_value_ok``).
_VALUE = re.compile(
    r"[\w-]*[\"']?(?:[ \t]*[:=][ \t]*|[ \t]+(?:lautet|ist|is):?[ \t]+|(?P<bare>[ \t]+))"
    r"[\"']?(?P<secret>[^\s\"',;]+)"
)
_PASSWORD_KEYS = frozenset({"password", "passwd", "passwort", "pwd", "kennwort"})
# The password of "scheme://user:password@host".
_URL_PASSWORD = re.compile(r"://[^\s:/@]+:(?P<secret>[^\s/@]+)@")


def entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def _classes(value: str) -> int:
    return sum(
        (
            any(c.islower() for c in value),
            any(c.isupper() for c in value),
            any(c.isdigit() for c in value),
            any(not c.isalnum() for c in value),
        )
    )


def looks_random(value: str) -> bool:
    """At least 16 characters, two character classes and >= 3 bits of entropy per char."""
    return len(value) >= 16 and _classes(value) >= 2 and entropy(value) >= 3.0


def _bare_value_ok(value: str) -> bool:
    """A value with no "=" or ":" before it must look random and hold letters and digits:
    "Token abgelaufen", "API key rotation" or "Schlüssel Nr. 12" are no secrets."""
    return (
        looks_random(value) and any(c.isdigit() for c in value) and any(c.isalpha() for c in value)
    )


def _password_like(value: str) -> bool:
    """A stated password may be short: 8+ characters mixing at least two classes, and more
    than a word followed by punctuation ("Das Passwort ist abgelaufen!")."""
    if value.rstrip(".,;:!?)").isalpha():
        return False
    return len(value) >= 8 and _classes(value) >= 2 and len(set(value)) >= 5


class SecretRecognizer(EntityRecognizer):
    """Vendor API keys, bearer tokens, JWTs, PEM private keys and secret assignments."""

    def __init__(self) -> None:
        super().__init__(supported_entities=[SECRET], supported_language="de")

    def load(self) -> None:
        """Nothing to load: the patterns are module constants."""

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if SECRET not in entities:
            return []
        found = [*_vendor(text), *_generic(text)]
        return [result(self, SECRET, *item) for item in merge(found)]


def _vendor(text: str) -> list[Found]:
    found: list[Found] = []
    for name, hints, pattern, score in _VENDOR_PATTERNS:
        if not any(hint in text for hint in hints):
            continue
        for match in pattern.finditer(text):
            if name == "OpenAI key" and _classes(match.group(0)[3:]) < 2:
                continue  # "sk-" + a word, not a key
            found.append((*match.span(), score, name))
    return found


def _generic(text: str) -> list[Found]:
    found: list[Found] = []
    if "Bearer" in text:
        for match in _BEARER.finditer(text):
            # A token may contain dots (a JWT) but one at its end closes the sentence.
            token = match["secret"].rstrip(".")
            if looks_random(token):
                start = match.start("secret")
                found.append((start, start + len(token), 0.95, "bearer token"))
    if "://" in text:
        for match in _URL_PASSWORD.finditer(text):
            found.append((*match.span("secret"), 0.9, "password in URL"))
    lower = text.lower()
    if len(lower) != len(text):  # a few characters grow when lower-cased ("İ"): keep offsets
        lower = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    if "secret" in lower and _AWS_SECRET_CONTEXT.search(text):
        for match in _AWS_SECRET.finditer(text):
            before = text[max(0, match.start() - WINDOW) : match.start()]
            if _AWS_SECRET_CONTEXT.search(before) and looks_random(match["secret"]):
                found.append((*match.span("secret"), 0.9, "AWS secret access key"))
    for key in _KEY.finditer(lower):
        if key.start() and lower[key.start() - 1].isalnum():
            continue  # inside a word: "mysecret", "Wahlpasswort" are no labels
        value = _VALUE.match(text, key.end())
        if value is None:
            continue
        secret = value["secret"].rstrip(".,;)")  # the end of the sentence, not of the value
        start = value.start("secret")
        if value["bare"] is not None:
            if _bare_value_ok(secret):
                found.append((start, start + len(secret), 0.85, f"{key.group(0)} + value"))
            continue
        password = key.group(0) in _PASSWORD_KEYS
        if looks_random(secret) or (password and _password_like(secret)):
            found.append((start, start + len(secret), 0.9, f"{key.group(0)} assignment"))
    return found


def recognizers() -> list[EntityRecognizer]:
    """Fresh instances of this module's recognizers."""
    return [SecretRecognizer()]
