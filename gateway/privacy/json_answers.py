"""Which texts of an answer are JSON, and what a value masked in them becomes (issue 14).

A text of the answer is JSON when the request asked for it: its ``content`` (chat) or
``text`` (completions) under ``response_format`` ``json_object`` or ``json_schema``, vLLM's
``structured_outputs`` ``json`` / ``json_object``, or the legacy ``guided_json``; and every
tool call's ``arguments``, whose schema is the tool's ``parameters``. Those texts are masked
with ``policies.jsontext`` and restored with JSON escaping, so that they stay JSON.

A masked value inside a JSON string stays in the string (``"Karte <CREDIT_CARD>"``). A bare
value (a number) that is masked is replaced whole by what the schema allows at its place,
in this order:

1. a JSON string, ``"<CREDIT_CARD>"``: where the schema allows a string there, or says
   nothing about the place (no schema, ``json_object``, a field it does not describe);
2. ``null``: where it allows no string but ``null`` (``card: int | None``);
3. otherwise the answer is withheld: 400 ``pii_masked_in_typed_field`` (in-band once a
   stream has started), naming the field and the type, never the value. A stand-in of the
   field's type (``0``) would be indistinguishable from a real value, and a stream's
   findings come after its headers, so a client could not even be told.

The counts of masked values are reported as for any answer (``x-sovereign-pii-response``
on whole answers, the ledger for all).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.errors import PolicyBlocked
from policies.jsontext import Bare, Path
from policies.schema_types import lookup

ANY_JSON: Any = True  # the schema that allows every JSON value


@dataclass(frozen=True, slots=True)
class JsonFormat:
    """One JSON text of an answer: the schema it follows, and how an error names it."""

    schema: Any = ANY_JSON
    where: str = "the answer"

    def stand_in(self, policy: str) -> Bare:
        """What a masked bare value becomes at a path (see the module's docstring)."""

        def replace(path: Path, mask: str) -> str:
            allowed, shown = lookup(self.schema, path)
            if allowed is None or "string" in allowed:
                return orjson.dumps(mask).decode()
            if "null" in allowed:
                return "null"
            kinds = " or ".join(sorted(allowed)) or "no value"
            place = f"'{shown}'" if shown else "its top level"
            raise PolicyBlocked(
                f"Your policy ({policy}) masks {mask.strip('<>')} in answers, and {self.where} "
                f"had one in {place}, where the request's JSON schema allows {kinds} but "
                "neither a string nor null. The answer was withheld; allow a string (or null) "
                "there to receive it masked.",
                param=shown or None,
                code="pii_masked_in_typed_field",
            )

        return replace


@dataclass(frozen=True, slots=True)
class AnswerFormats:
    """The JSON texts of one request's answer."""

    content: JsonFormat | None = None  # the answer's text, when it is JSON
    tools: Mapping[str, JsonFormat] = field(default_factory=dict)  # by function name

    def tool(self, name: object) -> JsonFormat:
        """A tool call's arguments: JSON, under the tool's schema if the request has it."""
        found = self.tools.get(name) if isinstance(name, str) else None
        return found if found is not None else JsonFormat(where="a tool call's arguments")

    def of_slot(self, container: Any, key: Any) -> JsonFormat | None:
        """The format of one answer slot (``gateway.privacy.texts.answer_slots``)."""
        if key == "arguments" and isinstance(container, dict):
            return self.tool(container.get("name"))
        return self.content if key in ("content", "text") else None


PLAIN = AnswerFormats()


def answer_formats(payload: Mapping[str, Any]) -> AnswerFormats:
    """The JSON texts of the answer to ``payload`` (the request as the engine got it)."""
    tools: dict[str, JsonFormat] = {}
    declared = [t.get("function") for t in payload.get("tools") or () if isinstance(t, dict)]
    # The Responses API declares a function tool flat: {"type": "function", "name", ...}.
    declared += [t for t in payload.get("tools") or () if isinstance(t, dict) and "name" in t]
    for function in [*declared, *(payload.get("functions") or ())]:
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            name = function["name"]
            schema = _schema(function.get("parameters", ANY_JSON))
            tools[name] = JsonFormat(schema, f"the arguments of the call of tool '{name}'")
    content = _content(payload)
    if content is None and not tools:
        return PLAIN
    return AnswerFormats(content, tools)


def _content(payload: Mapping[str, Any]) -> JsonFormat | None:
    response_format = payload.get("response_format")
    if isinstance(response_format, dict):
        kind = response_format.get("type")
        if kind == "json_object":
            return JsonFormat()
        if kind == "json_schema":
            spec = response_format.get("json_schema")
            return JsonFormat(_schema(spec.get("schema") if isinstance(spec, dict) else None))
    text = payload.get("text")  # the Responses API: text.format, the schema inline
    shape = text.get("format") if isinstance(text, dict) else None
    if isinstance(shape, dict) and shape.get("type") in ("json_object", "json_schema"):
        return JsonFormat(_schema(shape.get("schema", ANY_JSON)))
    outputs = payload.get("structured_outputs")
    if isinstance(outputs, dict):
        if outputs.get("json") is not None:
            return JsonFormat(_schema(outputs["json"]))
        if outputs.get("json_object"):
            return JsonFormat()
    if payload.get("guided_json") is not None:  # removed in vLLM 0.32, honoured before
        return JsonFormat(_schema(payload["guided_json"]))
    return None


def _schema(value: Any) -> Any:
    """A schema as requests give it: an object, a boolean, or a JSON text of one."""
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return ANY_JSON
    return value if isinstance(value, dict | bool) else ANY_JSON
