"""The engine's chat template (serving/templates/smollm2_tools.jinja): SmolLM2's own output,
byte for byte, for requests without tools (so answers compared elsewhere keep their text),
and tools, calls and results in the Hermes format vLLM's ``hermes`` parser reads.

Rendered as Hugging Face transformers renders chat templates (a sandboxed Jinja environment,
``trim_blocks`` and ``lstrip_blocks``, ``tojson``), as vLLM does through it."""

from __future__ import annotations

import json
from typing import Any

from jinja2.sandbox import ImmutableSandboxedEnvironment

from serving.local_engine import CHAT_TEMPLATE, EnginePaths, chat_model

# SmolLM2-135M-Instruct's own template, as the engine install writes it (chat_template.jinja).
SMOLLM2 = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging "
    "Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}"
)
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def render(template: str, messages: list[dict[str, Any]], **variables: Any) -> str:
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson"] = lambda value: json.dumps(value, ensure_ascii=False)
    return env.from_string(template).render(messages=messages, **variables)


def test_without_tools_the_output_is_smollm2s_own() -> None:
    ours = CHAT_TEMPLATE.read_text()
    for messages in (
        [{"role": "user", "content": "Hi"}],
        [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "Name three colours."},
        ],
    ):
        for generation_prompt in (True, False):
            expected = render(SMOLLM2, messages, add_generation_prompt=generation_prompt)
            assert (
                render(ours, messages, add_generation_prompt=generation_prompt, tools=None)
                == expected
            )


def test_tools_calls_and_results_are_in_the_hermes_format() -> None:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "c1", "type": "function",
             "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
        {"role": "tool", "tool_call_id": "c1", "content": '{"forecast": "sunny"}'},
    ]  # fmt: skip
    text = render(CHAT_TEMPLATE.read_text(), messages, tools=[WEATHER], add_generation_prompt=True)
    assert text.startswith("<|im_start|>system\nBe brief.\n\nYou are a function calling")
    assert "<tools>\n" + json.dumps(WEATHER["function"]) + "\n</tools>" in text
    assert (
        '<|im_start|>assistant\n<tool_call>\n{"name": "get_weather", "arguments": '
        '{"city": "Paris"}}\n</tool_call><|im_end|>\n'
    ) in text
    assert '<|im_start|>tool\n<tool_response>\n{"forecast": "sunny"}\n</tool_response>' in text
    assert text.endswith("<|im_start|>assistant\n")
    assert text.count("Be brief.") == 1


def test_the_chat_engine_is_started_with_the_template_and_the_hermes_parser(
    tmp_path: Any,
) -> None:
    options = chat_model(EnginePaths(tmp_path)).options
    assert options[options.index("--chat-template") + 1] == str(CHAT_TEMPLATE)
    assert CHAT_TEMPLATE.is_file()
    assert "--enable-auto-tool-choice" in options
    assert options[options.index("--tool-call-parser") + 1] == "hermes"
