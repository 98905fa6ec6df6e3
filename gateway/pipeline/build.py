"""Builds the request path once, in the lifespan, from the collaborators each stage needs."""

from __future__ import annotations

from gateway.identity.bearer import Authenticator
from gateway.metering.service import Metering
from gateway.pipeline.path import Pipeline
from gateway.pipeline.record import Records
from gateway.pipeline.stages.admit import Admit
from gateway.pipeline.stages.authenticate import Authenticate
from gateway.pipeline.stages.disclose import Disclose
from gateway.pipeline.stages.policy import ApplyPolicy
from gateway.pipeline.stages.read import Read
from gateway.pipeline.stages.residency import Residency
from gateway.pipeline.stages.send import Send
from gateway.pipeline.stages.shape import Shape
from gateway.privacy.service import Privacy
from gateway.provenance.service import Provenance
from gateway.routing.monitor import EngineMonitor
from gateway.settings import Settings
from gateway.telemetry.hub import Observability
from gateway.topology import Topology
from gateway.upstream.forwarder import Forwarder


def build_pipeline(
    settings: Settings,
    topology: Topology,
    authenticator: Authenticator,
    privacy: Privacy,
    metering: Metering,
    observability: Observability,
    monitor: EngineMonitor,
    forwarder: Forwarder,
    gateway_id: str,
    provenance: Provenance | None = None,
) -> Pipeline:
    records = Records(metering, observability, privacy, gateway_id)
    default_completion = settings.metering.default_completion_tokens
    return Pipeline(
        authenticate=Authenticate(authenticator),
        read=Read(settings, topology, observability),
        decide=(
            Residency(topology),
            ApplyPolicy(privacy),
            Disclose(),
            Admit(
                metering,
                records,
                monitor,
                privacy,
                default_completion,
                settings.metering.on_client_disconnect,
            ),
        ),
        send=Send(forwarder),
        shape=Shape(privacy, provenance),
        records=records,
    )
