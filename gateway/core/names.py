"""Names with a shape: checked once, wherever they enter (configuration, admin API, records)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import StringConstraints

# ISO 3166-1 alpha-2, upper case. The EU uses "EL" for Greece in some registers; ISO says GR.
Jurisdiction = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
# Policy ids and data classes: lower-case words with dashes, as in policies/presets.
PolicyName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
# A served model's name as clients send it ("*" in a tenant's allowed models: every model).
ModelName = Annotated[str, StringConstraints(min_length=1, max_length=256)]
# While the shared quota store is unreachable: refuse (503) or serve under local limits.
DegradedMode = Literal["fail_closed", "fail_open"]
# When a client leaves before its answer is complete: stop the engine at once (abort), or let
# it complete the request for nobody, read to its end and metered exactly (finish).
DisconnectMode = Literal["finish", "abort"]
# A pool's text watermark (gateway/upstream/watermark.py): never, always, or when asked.
WatermarkMode = Literal["off", "on", "client"]
