"""Every field of a request forwarded under a policy: analysed, or refused.

An engine renders far more than ``messages[].content`` into the model's prompt: a message's
``name``, tool and parameter descriptions, ``response_format`` schemas, ``documents``, a
client's own ``chat_template`` and its kwargs; and it receives ``user``, ``metadata`` or
``stop`` strings whether it renders them or not. So under a policy the gateway knows every
field of the requests it forwards (vLLM 0.32's chat, completions, embeddings, tokenize,
detokenize and responses requests, plus OpenAI's own fields), each of one kind:

- **text**: every string in it, however deep, is a slot the policy analyses and may rewrite
  (mask, pseudonymise) or block; the names of nested objects (a schema's property names,
  metadata keys) are analysed too, and a finding there refuses the request (a field name
  cannot be rewritten without changing what the client asked for);
- **scalar**: numbers, booleans, token ids and fixed vocabularies (``truncation_side``):
  checked for their type, never analysed, since a free string there would pass unseen;
- **messages**, **prompt**: the conversation and the prompt, part by part: text parts are
  analysed; images, audio, files and token ids cannot be, and are refused;
- anything else is **unknown** and refused with 400 naming the field.

A tenant's policy may list fields in ``passthrough_fields``: those go as they are, unanalysed,
known or not (the policy's version, a hash of its content, records that it does). Paths
there are dotted, list items ``*``: ``metadata``, ``messages.*.content.*.image_url``.

The walk is iterative and bounded in depth, so no request can make it recurse without end.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any, NoReturn

from gateway.errors import InvalidRequest, UnanalysableInput

Slot = tuple[Any, Any]  # (dict or list, key or index): a string the policy may rewrite
MAX_DEPTH = 32
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


@dataclass(slots=True)
class RequestTexts:
    """What the policy analyses of one request."""

    slots: list[Slot] = field(default_factory=list)
    # (field path, its nested field names joined by newlines): analysed, never rewritten.
    names: list[tuple[str, str]] = field(default_factory=list)


class _Walk:
    def __init__(self, passthrough: Collection[str]) -> None:
        self.out = RequestTexts()
        self.passthrough = passthrough

    def passes(self, path: str) -> bool:
        return path in self.passthrough

    def text(self, container: Any, key: Any, path: str) -> None:
        """Every string under ``container[key]`` is a slot; nested names are analysed."""
        names: list[str] = []
        stack: list[tuple[Any, Any, int]] = [(container, key, 0)]
        while stack:
            parent, at, depth = stack.pop()
            value = parent[at]
            if isinstance(value, str):
                self.out.slots.append((parent, at))
            elif isinstance(value, dict | list):
                if depth >= MAX_DEPTH:
                    raise InvalidRequest(
                        f"'{path}' is nested more than {MAX_DEPTH} levels deep.",
                        param=path,
                        code="invalid_value",
                    )
                if isinstance(value, dict):
                    names.extend(str(k) for k in value)
                    stack.extend((value, k, depth + 1) for k in value)
                else:
                    stack.extend((value, i, depth + 1) for i in range(len(value)))
        if names:
            self.out.names.append((path, "\n".join(names)))

    def scalar(self, value: Any, path: str, words: frozenset[str] = frozenset()) -> None:
        """Numbers, booleans, null, lists of them, or one of ``words``; else 400."""
        items = value if isinstance(value, list) else [value]
        for item in items:
            if item is None or isinstance(item, bool | int | float):
                continue
            if isinstance(item, str) and item in words:
                continue
            raise InvalidRequest(
                f"Invalid value for '{path}': expected "
                + ("one of " + ", ".join(sorted(words)) if words else "a number or a boolean")
                + ". Free text is not accepted here under your privacy policy.",
                param=path,
                code="invalid_value",
            )

    def unknown(self, path: str) -> NoReturn:
        raise InvalidRequest(
            f"Unknown field '{path}': your privacy policy only forwards fields it can check. "
            "Remove it, or ask your administrator to let it through (passthrough_fields).",
            param=path,
            code="unknown_field",
        )


Handler = Callable[[_Walk, dict[str, Any], str, str], None]


def _text(walk: _Walk, payload: dict[str, Any], name: str, path: str) -> None:
    walk.text(payload, name, path)


def _scalar(words: Iterable[str] = ()) -> Handler:
    allowed = frozenset(words)

    def check(walk: _Walk, payload: dict[str, Any], name: str, path: str) -> None:
        walk.scalar(payload[name], path, allowed)

    return check


def _logit_bias(walk: _Walk, payload: dict[str, Any], name: str, path: str) -> None:
    value = payload[name]
    if value is None:
        return
    if not isinstance(value, dict) or not all(str(k).lstrip("-").isdigit() for k in value):
        raise InvalidRequest(
            f"Invalid value for '{path}': token ids (as strings) to numbers.",
            param=path,
            code="invalid_value",
        )
    walk.scalar(list(value.values()), path)


def _prompt(walk: _Walk, payload: dict[str, Any], name: str, path: str) -> None:
    value = payload[name]
    if isinstance(value, str):
        walk.out.slots.append((payload, name))
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, str):
                walk.out.slots.append((value, index))
            else:
                raise UnanalysableInput(
                    f"Your policy checks the text of '{name}'; token ids cannot be checked. "
                    "Send text instead.",
                    param=name,
                )


def _unanalysable(walk: _Walk, payload: dict[str, Any], name: str, path: str) -> None:
    if payload[name] is None or walk.passes(path):
        return
    raise UnanalysableInput(
        f"Your policy checks everything sent to the model; '{path}' cannot be checked. "
        "Remove it, or ask your administrator to let it through (passthrough_fields).",
        param=path,
    )


# Fields of a chat message, and of a content part by its type.
_MESSAGE_TEXT = frozenset(
    {"name", "tool_call_id", "refusal", "reasoning_content", "reasoning", "tool_calls",
     "function_call", "audio", "prefix"}
)  # fmt: skip
_TEXT_PART_TYPES = frozenset({"text", "input_text", "output_text", "refusal"})


def _messages(walk: _Walk, payload: dict[str, Any], name: str, path: str) -> None:
    messages = payload[name]
    if not isinstance(messages, list):
        raise InvalidRequest(f"'{path}' must be a list.", param=path, code="invalid_value")
    for index, message in enumerate(messages):
        where = f"{path}.{index}"
        if not isinstance(message, dict):
            raise InvalidRequest(f"'{where}' must be an object.", param=where)
        for key in message:
            at = f"{path}.*.{key}"
            if key == "role":
                walk.scalar(message[key], f"{where}.role", _ROLES)
            elif key == "content":
                _content(walk, message, f"{where}.content", f"{path}.*.content")
            elif key in _MESSAGE_TEXT:
                walk.text(message, key, f"{where}.{key}")
            elif not walk.passes(at):
                walk.unknown(f"{where}.{key}")


def _content(walk: _Walk, message: dict[str, Any], where: str, pattern: str) -> None:
    content = message["content"]
    if content is None or isinstance(content, str):
        if content is not None:
            walk.out.slots.append((message, "content"))
        return
    if not isinstance(content, list):
        raise InvalidRequest(f"'{where}' must be text or a list of parts.", param=where)
    for index, part in enumerate(content):
        at = f"{where}.{index}"
        if not isinstance(part, dict):
            raise InvalidRequest(f"'{at}' must be an object.", param=at)
        kind = part.get("type", "text")
        if kind in _TEXT_PART_TYPES:
            for key in part:
                if key == "type":
                    continue
                walk.text(part, key, f"{at}.{key}")
        elif not walk.passes(f"{pattern}.*.{kind}"):
            raise UnanalysableInput(
                f"Your policy checks everything sent to the model; '{at}' is a "
                f"'{kind}' part, which cannot be checked. Send text, or ask your "
                f"administrator to let such parts through ('{pattern}.*.{kind}').",
                param=at,
            )


_SAMPLING = {
    name: _scalar()
    for name in (
        "stream", "frequency_penalty", "presence_penalty", "logprobs", "top_logprobs",
        "max_tokens", "max_completion_tokens", "n", "seed", "temperature", "top_p",
        "parallel_tool_calls", "thinking_token_budget", "include_reasoning", "use_beam_search",
        "top_k", "min_p", "repetition_penalty", "watermarking", "length_penalty",
        "stop_token_ids", "include_stop_str_in_output", "ignore_eos", "min_tokens",
        "skip_special_tokens", "spaces_between_special_tokens", "truncate_prompt_tokens",
        "prompt_logprobs", "logprob_token_ids", "allowed_token_ids", "echo",
        "add_generation_prompt", "continue_final_message", "add_special_tokens", "priority",
        "return_tokens_as_token_ids", "return_token_ids", "routed_experts_prompt_start",
        "return_token_offsets", "return_prompt_text", "return_mm_kwargs", "stream_interval",
        "store", "best_of", "dimensions", "use_activation",
    )
}  # fmt: skip
_ENUMS: dict[str, Handler] = {
    "model": lambda walk, payload, name, path: None,  # routed on: never sent unrecognised
    "reasoning_effort": _scalar(("none", "minimal", "low", "medium", "high", "xhigh", "max")),
    "truncation_side": _scalar(("left", "right")),
    "mm_payload": _scalar(("tensors", "none")),
    "service_tier": _scalar(("auto", "default", "flex", "priority", "scale")),
    "modalities": _scalar(("text", "audio")),
    "encoding_format": _scalar(("float", "base64", "bytes", "bytes_only")),
    "embed_dtype": _scalar(("float32", "float16", "bfloat16", "fp8_e4m3", "fp8_e5m2")),
    "endianness": _scalar(("native", "big", "little")),
    "padding": _scalar(("max_length", "do_not_pad")),
    "logit_bias": _logit_bias,
}
# Strings reach the engine through these: analysed wherever they are.
_TEXTS = {
    name: _text
    for name in (
        "stream_options", "tools", "tool_choice", "functions", "function_call",
        "response_format", "structured_outputs", "guided_json", "guided_regex",
        "guided_choice", "guided_grammar", "guided_decoding_backend",
        "guided_whitespace_pattern", "stop", "bad_words", "user", "documents",
        "chat_template", "chat_template_kwargs", "metadata", "vllm_xargs",
        "mm_processor_kwargs", "media_io_kwargs", "kv_transfer_params", "ec_transfer_params",
        "repetition_detection", "cache_salt", "session_id", "prediction", "suffix",
        "web_search_options", "audio",
    )
}  # fmt: skip
_COMMON: dict[str, Handler] = {**_SAMPLING, **_ENUMS, **_TEXTS}
# vLLM's tokenizer routes, field by field: /tokenize renders a prompt or a chat as /v1/chat/
# completions would (its template, tools and kwargs: analysed); /detokenize takes token ids
# only. Those are numbers to the policy: the engine decodes them and runs no model, and the
# text they decode to is analysed under the response rules before the client gets it.
_TOKENIZE = {
    "model": _ENUMS["model"],
    "prompt": _prompt,
    "messages": _messages,
    **{name: _COMMON[name] for name in (
        "add_special_tokens", "add_generation_prompt", "continue_final_message", "tools",
        "chat_template", "chat_template_kwargs", "media_io_kwargs", "mm_processor_kwargs",
    )},
    "return_token_strs": _scalar(),
}  # fmt: skip
# The Responses API (vLLM 0.32's ``ResponsesRequest``, OpenAI's fields): ``input`` item by
# item; its instructions, tools (descriptions, parameter schemas), ``text.format`` schema,
# metadata, user and reasoning settings are texts, all analysed.
_ITEM_TEXT = {  # the input items an engine renders, and their text fields
    "message": frozenset({"id", "name"}),  # with its role, status and content (parts)
    "function_call": frozenset({"id", "call_id", "name", "arguments", "namespace"}),
    "function_call_output": frozenset({"id", "call_id", "output"}),
    "reasoning": frozenset({"id", "summary", "content", "encrypted_content"}),
}
_ITEM_WORDS = {
    "role": frozenset({"user", "system", "developer", "assistant"}),
    "status": frozenset({"in_progress", "completed", "incomplete"}),
}
_INCLUDE = (
    "code_interpreter_call.outputs", "computer_call_output.output.image_url",
    "file_search_call.results", "message.input_image.image_url",
    "message.output_text.logprobs", "reasoning.encrypted_content",
)  # fmt: skip


def _input_items(walk: _Walk, payload: dict[str, Any], name: str, path: str) -> None:
    items = payload[name]
    if isinstance(items, str):
        walk.out.slots.append((payload, name))
        return
    if not isinstance(items, list):
        raise InvalidRequest(f"'{path}' must be text or a list of items.", param=path)
    for index, item in enumerate(items):
        where = f"{path}.{index}"
        if not isinstance(item, dict):
            raise InvalidRequest(f"'{where}' must be an object.", param=where)
        kind = item.get("type", "message")
        texts = _ITEM_TEXT.get(kind) if isinstance(kind, str) else None
        if texts is None:
            if walk.passes(f"{path}.*.{kind}"):
                continue
            raise UnanalysableInput(
                f"Your policy checks everything sent to the model; '{where}' is a '{kind}' "
                "item, which cannot be checked (or refers to a stored one: this gateway keeps "
                f"none). Send it as messages, or ask your administrator to let such items "
                f"through ('{path}.*.{kind}').",
                param=where,
            )
        for key in item:
            at = f"{where}.{key}"
            if key == "type":
                continue
            if key in _ITEM_WORDS:
                walk.scalar(item[key], at, _ITEM_WORDS[key])
            elif key == "content" and kind == "message":
                _content(walk, item, at, f"{path}.*.content")
            elif key == "output" and isinstance(item[key], list):  # parts, as a message's
                _content(walk, {"content": item[key]}, at, f"{path}.*.output")
            elif key in texts:
                walk.text(item, key, at)
            elif not walk.passes(f"{path}.*.{key}"):
                walk.unknown(at)


_RESPONSES: dict[str, Handler] = {
    "model": _ENUMS["model"],
    "input": _input_items,
    **{name: _COMMON[name] for name in (
        "temperature", "top_p", "top_k", "min_p", "top_logprobs", "parallel_tool_calls",
        "stream", "store", "include_reasoning", "skip_special_tokens", "priority", "seed",
        "include_stop_str_in_output", "repetition_penalty", "stop_token_ids", "ignore_eos",
        "presence_penalty", "frequency_penalty", "watermarking", "return_mm_kwargs",
        "service_tier", "mm_payload", "logit_bias", "tools", "tool_choice", "user",
        "metadata", "stop", "session_id", "cache_salt", "vllm_xargs", "kv_transfer_params",
        "ec_transfer_params", "chat_template_kwargs", "structured_outputs",
        "media_io_kwargs", "mm_processor_kwargs",
    )},
    **{name: _scalar() for name in (
        "max_output_tokens", "max_tool_calls", "background", "enable_response_messages",
        "previous_response_id", "conversation",  # refused unless null (stateless)
    )},
    **{name: _text for name in (
        "instructions", "text", "reasoning", "prompt", "prompt_cache_key", "request_id",
        "previous_input_messages", "safety_identifier", "stream_options",
    )},
    "prompt_cache_retention": _scalar(("in-memory", "24h")),
    "truncation": _scalar(("auto", "disabled")),
    "include": _scalar(_INCLUDE),
}  # fmt: skip
# Anthropic's Messages API (vLLM 0.32's ``AnthropicMessagesRequest``): ``system`` and each
# message's content are text or content blocks. A block of a text kind has every field but
# its ``type`` analysed (a tool_use's ``input`` value by value, its keys as names; a
# tool_result's ``content`` block by block); images and documents cannot be analysed.
_BLOCK_TEXT = frozenset(
    {"text", "tool_use", "tool_result", "thinking", "redacted_thinking", "tool_reference",
     "tool_addition", "tool_removal", "server_tool_use"}
)  # fmt: skip
_ANTHROPIC_ROLES = frozenset({"user", "assistant", "system"})


def _blocks(walk: _Walk, holder: dict[str, Any], key: str, where: str, pattern: str) -> None:
    """``holder[key]``: a text (one slot) or a list of content blocks."""
    value = holder[key]
    if value is None or isinstance(value, str):
        if value is not None:
            walk.out.slots.append((holder, key))
        return
    if not isinstance(value, list):
        raise InvalidRequest(f"'{where}' must be text or a list of blocks.", param=where)
    for index, block in enumerate(value):
        at = f"{where}.{index}"
        if not isinstance(block, dict):
            raise InvalidRequest(f"'{at}' must be an object.", param=at)
        kind = block.get("type", "text")
        if kind not in _BLOCK_TEXT:
            if walk.passes(f"{pattern}.*.{kind}"):
                continue
            raise UnanalysableInput(
                f"Your policy checks everything sent to the model; '{at}' is a '{kind}' "
                f"block, which cannot be checked. Send text, or ask your administrator to let "
                f"such blocks through ('{pattern}.*.{kind}').",
                param=at,
            )
        for name in block:
            if name == "type":
                continue
            if kind == "tool_result" and name == "content":
                _blocks(walk, block, name, f"{at}.content", f"{pattern}.*.content")
            else:
                walk.text(block, name, f"{at}.{name}")


def _anthropic_system(walk: _Walk, payload: dict[str, Any], name: str, path: str) -> None:
    _blocks(walk, payload, name, path, path)


def _anthropic_messages(walk: _Walk, payload: dict[str, Any], name: str, path: str) -> None:
    messages = payload[name]
    if not isinstance(messages, list):
        raise InvalidRequest(f"'{path}' must be a list.", param=path, code="invalid_value")
    for index, message in enumerate(messages):
        where = f"{path}.{index}"
        if not isinstance(message, dict):
            raise InvalidRequest(f"'{where}' must be an object.", param=where)
        for key in message:
            if key == "role":
                walk.scalar(message[key], f"{where}.role", _ANTHROPIC_ROLES)
            elif key == "content":
                _blocks(walk, message, key, f"{where}.content", f"{path}.*.content")
            elif not walk.passes(f"{path}.*.{key}"):
                walk.unknown(f"{where}.{key}")


_MESSAGES = {
    "model": _ENUMS["model"],
    "messages": _anthropic_messages,
    "system": _anthropic_system,
    **{name: _COMMON[name] for name in (
        "max_tokens", "temperature", "top_p", "top_k", "stream", "metadata", "tools",
        "tool_choice", "mm_payload", "cache_salt", "watermarking", "kv_transfer_params",
        "ec_transfer_params", "vllm_xargs", "chat_template_kwargs",
    )},
    # Strings that reach the engine (stop strings; the thinking, output format and schema
    # settings), analysed wherever they are; the rest numbers or booleans.
    **{name: _text for name in ("stop_sequences", "thinking", "output_config")},
    "return_mm_kwargs": _scalar(),
    "service_tier": _scalar(("auto", "standard_only")),
}  # fmt: skip
# Anthropic's token counter: the conversation, tools and settings a message would send.
_COUNT_TOKENS = {
    name: _MESSAGES[name]
    for name in (
        "model", "messages", "system", "tools", "tool_choice", "thinking", "output_config",
        "chat_template_kwargs",
    )
}  # fmt: skip
FIELDS: dict[str, dict[str, Handler]] = {
    "/v1/messages": _MESSAGES,
    "/v1/messages/count_tokens": _COUNT_TOKENS,
    "/v1/chat/completions": {**_COMMON, "messages": _messages},
    "/v1/completions": {**_COMMON, "prompt": _prompt, "prompt_embeds": _unanalysable},
    "/v1/embeddings": {**_COMMON, "input": _prompt, "messages": _messages},
    "/tokenize": _TOKENIZE,
    "/detokenize": {"model": _ENUMS["model"], "tokens": _scalar()},
    "/v1/responses": _RESPONSES,
}


def request_texts(
    payload: dict[str, Any], path: str, passthrough: Collection[str] = ()
) -> RequestTexts:
    """The slots and field names of every text the request would send; raises a 400 for a
    field the policy cannot check (unknown, or not text) unless ``passthrough`` names it."""
    handlers = FIELDS[path]
    walk = _Walk(passthrough)
    for name in payload:
        if walk.passes(name):
            continue  # the policy lets it through as it is
        handler = handlers.get(name)
        if handler is None:
            walk.unknown(name)
        handler(walk, payload, name, name)
    return walk.out
