"""The ``provenance`` section of the settings: signing keys, the tenants' default, the deployer
named in every token, and the public verify endpoint's limits; and the ``watermark`` section:
the text watermark's scheme the engines mark with and the verify endpoint detects."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from serving.watermark_scheme import MIN_KEY_BYTES, WatermarkScheme

ProvenanceMode = Literal["off", "on"]


class ProvenanceKey(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Its name in the token's header and in the JWKS (rotation: a new kid, the old one kept).
    kid: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    # PEM (PKCS#8) of an Ed25519 key (EdDSA) or a P-256 key (ES256), one of: the PEM itself,
    # through the environment (SOVEREIGN_PROVENANCE__KEYS='[{"kid": ..., "private_key": ...}]'),
    # or the path of a file holding it (a mounted Kubernetes Secret: the Helm chart's way),
    # read once at start-up.
    private_key: SecretStr | None = None
    private_key_file: str | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _one_source(self) -> ProvenanceKey:
        if (self.private_key is None) == (self.private_key_file is None):
            raise ValueError(
                f"provenance key {self.kid!r}: set exactly one of private_key, private_key_file"
            )
        return self


class ProvenanceSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # Answers are signed for tenants that do not choose (tenants[].provenance); a policy
    # with ``require_provenance`` signs its tenants' answers whatever they chose.
    default: ProvenanceMode = "off"
    # Who deploys the system (EU AI Act Art. 50): the token's ``iss``.
    deployer: str = Field("sovereign-gateway", min_length=1, max_length=200)
    # The first key signs; the others are still published (JWKS), so tokens they signed
    # keep verifying after a rotation. Empty: an ephemeral Ed25519 key per process (its kid
    # logged), fine for quick mode and one worker, useless for tokens kept longer.
    keys: list[ProvenanceKey] = Field(default_factory=list)
    # POST /v1/provenance/verify needs no key: a token bucket per client address (as the
    # server sees it: behind a proxy, uvicorn's forwarded_allow_ips must name the proxy).
    verify_per_minute: float = Field(30.0, gt=0)
    verify_burst: int = Field(10, ge=1)
    verify_max_chars: int = Field(200_000, ge=1)

    @model_validator(mode="after")
    def _unique_kids(self) -> ProvenanceSettings:
        kids = [k.kid for k in self.keys]
        if len(set(kids)) != len(kids):
            raise ValueError("provenance key ids (kid) must be unique")
        return self


class WatermarkSettings(BaseModel):
    """The deployment's text watermark (``serving/watermark_scheme.py``). The engines of pools
    with ``watermark: on`` or ``client`` must run the logits processor with the SAME key and
    strength (their ``SOVEREIGN_WATERMARK_*`` environment: ``WatermarkScheme.engine_env``);
    the gateway needs them to detect the watermark (``POST /v1/provenance/verify``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Hex, 16 bytes or more; set it through the environment (SOVEREIGN_WATERMARK__KEY).
    key: SecretStr
    gamma: float = Field(0.25, gt=0, lt=1)
    delta: float = Field(2.0, ge=0)
    context_width: int = Field(1, ge=1, le=8)
    # The engine model's tokenizer.json (or its folder): the detector re-tokenizes with it.
    tokenizer: str = Field(min_length=1)
    # Detected: z at or above this (false-positive rate P(Z >= threshold_z): 3.2e-5 at 4),
    # over at least min_tokens scored tokens.
    threshold_z: float = Field(4.0, gt=0)
    min_tokens: int = Field(16, ge=1)

    @field_validator("key")
    @classmethod
    def _hex_key(cls, value: SecretStr) -> SecretStr:
        try:
            key = bytes.fromhex(value.get_secret_value().strip())
        except ValueError:
            raise ValueError("the watermark key must be hex") from None
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"the watermark key needs {MIN_KEY_BYTES} bytes or more")
        return value

    def scheme(self) -> WatermarkScheme:
        return WatermarkScheme(
            key=bytes.fromhex(self.key.get_secret_value().strip()),
            gamma=self.gamma,
            delta=self.delta,
            context_width=self.context_width,
            tokenizer=self.tokenizer,
        )
