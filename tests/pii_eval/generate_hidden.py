"""Generate the HIDDEN-FIELD PII set: ``python -m tests.pii_eval.generate_hidden``.

Personal data placed where a policy that reads only ``messages[].content`` never looks: a
message's ``name``, ``user``, tool and parameter descriptions, a ``response_format`` schema,
``stop`` strings, ``documents``, a client's ``chat_template`` and its kwargs, ``metadata``,
``guided_choice`` and ``structured_outputs``, an earlier tool call's arguments. Same record
schema as ``adversarial.jsonl`` (category ``hidden_field``), one text per case; ``field``
says where in a chat request the text goes. ``loadtest.pii_benchmark`` scores these cases
through the gateway's own request-field extraction (``loadtest/pii_hidden.py``): a value
counts as found only if the gateway hands its field to the analyzer *and* the analyzer finds
it. Values are written plainly (the other categories test the tricks). Deterministic.
"""

from __future__ import annotations

import json
from pathlib import Path
from random import Random

from policies import entities as E
from tests.pii_eval import templates_adversarial as T
from tests.pii_eval.generate_adversarial import LANGS, Values, message, place

SEED = 20261206
HIDDEN = Path(__file__).with_name("hidden_fields.jsonl")
FIELDS = (
    "messages[0].name",
    "user",
    "tools[0].function.description",
    "tools[0].function.parameters.properties.account.description",
    "response_format.json_schema.schema.description",
    "stop[0]",
    "documents[0].text",
    "chat_template",
    "chat_template_kwargs.signature",
    "metadata.note",
    "guided_choice[0]",
    "structured_outputs.choice[0]",
    "messages[1].tool_calls[0].function.arguments",
    "messages[2].tool_call_id",
)
TYPES = (E.EMAIL_ADDRESS, E.PHONE_NUMBER, E.IBAN, E.DE_TAX_ID, E.PERSON, E.SECRET, E.CREDIT_CARD)
CASES = 140


def generate() -> list[dict[str, object]]:
    rng = Random(SEED)
    values = Values(rng)
    cases: list[dict[str, object]] = []
    for n in range(CASES):
        field = FIELDS[n % len(FIELDS)]
        entity = TYPES[(n // len(FIELDS) + n) % len(TYPES)]
        lang = LANGS[(n // 2) % 2]
        value = values.make(entity, lang).written()
        text, span = place(rng.choice(T.SENTENCES[entity][lang]), value, entity)
        cases.append(
            {
                "id": f"hid-{lang}-{n:04d}",
                "lang": lang,
                "category": "hidden_field",
                "trick": f"in {field}",
                "messages": [message(text, [span], field)],
            }
        )
    return cases


def main() -> None:
    lines = [json.dumps(case, ensure_ascii=False) for case in generate()]
    HIDDEN.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(lines)} cases -> {HIDDEN}")


if __name__ == "__main__":
    main()
