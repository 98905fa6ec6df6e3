"""Policies as code: presets load and validate, versions are content hashes, rules resolve."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from policies import entities
from policies.decide import counts, decide, mask_token, rewrite, summary
from policies.model import Action, Direction, load_preset, parse_policy, preset_names
from policies.spans import Span

MINIMAL = """
id: tiny
entities:
  PERSON: {prompt: pseudonymize, response: allow}
  special_category: {prompt: route, route_to: special-category}
  HEALTH: {prompt: block}
"""


def test_the_three_presets_ship_and_validate() -> None:
    assert {"gdpr-default", "public-sector-strict", "contact-centre"} <= set(preset_names())
    for name in preset_names():
        policy = load_preset(name)
        assert policy.id == name
        assert len(policy.version) == 16
        assert policy.label == f"{name}@{policy.version}"


def test_version_is_a_content_hash_stable_across_loads_and_changed_by_any_edit() -> None:
    assert parse_policy(MINIMAL).version == parse_policy(MINIMAL).version
    edited = MINIMAL.replace("response: allow", "response: flag")
    assert parse_policy(edited).version != parse_policy(MINIMAL).version
    # Formatting and key order are not content.
    reordered = """
entities:
  HEALTH:   {prompt: block}
  special_category: {route_to: special-category, prompt: route}
  PERSON: {response: allow, prompt: pseudonymize}
id: tiny
"""
    assert parse_policy(reordered).version == parse_policy(MINIMAL).version


def test_a_types_own_rule_wins_over_its_group() -> None:
    policy = parse_policy(MINIMAL)
    assert policy.rule(entities.HEALTH).prompt is Action.BLOCK
    assert policy.rule(entities.RELIGION).prompt is Action.ROUTE
    assert policy.rule(entities.RELIGION).route_to == "special-category"
    assert policy.rule(entities.IBAN) == policy.default


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("id: x\nentities: {NAME: {prompt: mask}}", "unknown entity types ['NAME']"),
        ("id: x\nentities: {PERSON: {response: pseudonymize}}", "applies to prompts only"),
        ("id: x\nentities: {PERSON: {prompt: route}}", "'route' needs 'route_to'"),
        ("id: x\nentities: {PERSON: {prompt: erase}}", "Input should be"),
        ("id: Not Valid\n", "String should match pattern"),
        ("id: x\nshadw: true\n", "Extra inputs are not permitted"),
    ],
)
def test_bad_policies_are_refused_with_a_clear_message(text: str, complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint.replace("[", r"\[").replace("]", r"\]")):
        parse_policy(text)


def test_unknown_preset_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="gdpr-default"):
        load_preset("gdpr-strictest")


def test_decide_applies_the_direction_and_skips_allowed_types() -> None:
    policy = parse_policy(MINIMAL)
    spans = [Span(0, 4, entities.PERSON, 0.9), Span(10, 18, entities.HEALTH, 0.7)]
    prompt = decide(spans, policy, Direction.PROMPT)
    assert [f.action for f in prompt.findings] == [Action.PSEUDONYMIZE, Action.BLOCK]
    assert prompt.blocked == {entities.HEALTH}
    answer = decide(spans, policy, Direction.RESPONSE)
    assert [f.span.entity for f in answer.findings] == [entities.HEALTH]  # PERSON: allow
    assert answer.findings[0].action is Action.FLAG


def test_route_findings_name_their_data_class() -> None:
    policy = parse_policy(MINIMAL)
    decision = decide([Span(0, 5, entities.RELIGION, 0.8)], policy, Direction.PROMPT)
    assert decision.route_classes == {"special-category"}
    assert decision.to_rewrite() == ()


def test_shadow_mode_decides_but_rewrites_nothing() -> None:
    policy = parse_policy(MINIMAL + "shadow: true\n")
    decision = decide([Span(0, 4, entities.PERSON, 0.9)], policy, Direction.PROMPT)
    assert decision.findings
    assert decision.to_rewrite() == ()
    assert summary(counts([decision])) == "PERSON:pseudonymize=1"


def test_rewrite_replaces_spans_and_refuses_overlaps() -> None:
    text = "Herr Max Muster, IBAN DE89370400440532013000."
    person, iban = Span(5, 15, "PERSON", 1), Span(22, 44, "IBAN", 1)
    out = rewrite(text, [(iban, mask_token("IBAN")), (person, "<PERSON_1>")])
    assert out == "Herr <PERSON_1>, IBAN <IBAN>."
    with pytest.raises(ValueError, match="overlapping"):
        rewrite(text, [(person, "a"), (Span(10, 20, "IBAN", 1), "b")])
