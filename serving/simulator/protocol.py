"""Request bodies: parsing and validation with vLLM 0.32's status codes, types and messages.

Schema errors look like vLLM's (FastAPI validation rendered by its handler: type
``Bad Request``, param ``body.<field>``); semantic errors are ``BadRequestError`` with vLLM's
wording (checked against a running vLLM 0.32.0). Like vLLM 0.32, a ``max_tokens`` that does
not fit after the prompt is clamped to what is left of ``max_model_len``, not refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from serving.simulator import text
from serving.simulator.text import PromptTokens


class ApiError(Exception):
    def __init__(self, status: int, err_type: str, message: str, param: str | None = None):
        super().__init__(message)
        self.status = status
        self.err_type = err_type
        self.message = message
        self.param = param

    def body(self) -> bytes:
        error = {"message": self.message, "type": self.err_type, "param": self.param}
        return orjson.dumps({"error": {**error, "code": self.status}})


def bad_request(message: str, param: str | None = None, value: object = None) -> ApiError:
    extras = [f"parameter={param}"] if param else []
    extras += [f"value={value}"] if value is not None else []
    suffix = f" ({', '.join(extras)})" if extras else ""
    return ApiError(400, "BadRequestError", message + suffix, param)


def _invalid(kind: str, loc: str, msg: str, value: object, **more: object) -> ApiError:
    shown = f"<dict of {len(value)} items>" if isinstance(value, dict) else value
    detail: dict[str, object] = {"type": kind, "loc": f"body.{loc}", "msg": msg, "input": shown}
    detail.update(more)
    return ApiError(400, "Bad Request", "1 validation error:\n  " + repr(detail), f"body.{loc}")


@dataclass(frozen=True)
class GenerationRequest:
    model: str | None
    prompt: PromptTokens
    max_tokens: int | None
    max_tokens_param: str
    ignore_eos: bool
    stream: bool
    include_usage: bool
    # stream_options.continuous_usage_stats, which vLLM honours only with include_usage:
    # every chunk carries the usage so far.
    continuous_usage: bool = False


@dataclass(frozen=True)
class EmbeddingRequest:
    model: str | None
    inputs: tuple[tuple[str, ...], ...]  # pseudo-tokens of each input
    base64: bool
    dimensions: int | None


def parse_body(raw: bytes) -> dict[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise _invalid(
            "json_invalid", str(exc.pos), "JSON decode error", {}, ctx={"error": exc.msg}
        ) from None
    if not isinstance(body, dict):
        raise _invalid("model_attributes_type", "", "Input should be a valid dictionary", body)
    return body


def _opt_int(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _invalid("int_type", name, "Input should be a valid integer", value)
    try:
        return int(value)
    except ValueError:
        msg = "Input should be a valid integer, unable to parse string as an integer"
        raise _invalid("int_parsing", name, msg, value) from None


def _opt_bool(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _invalid("bool_type", name, "Input should be a valid boolean", value)
    return value


def _model(body: dict[str, Any]) -> str | None:
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise _invalid("string_type", "model", "Input should be a valid string", model)
    return model


def _content(message: Any, index: int) -> tuple[str, str]:
    if not isinstance(message, dict):
        raise _invalid("dict_type", f"messages.{index}", "Input should be a valid dict", message)
    role, content = message.get("role"), message.get("content")
    if not isinstance(role, str):
        raise _invalid("missing", f"messages.{index}.role", "Field required", message)
    if isinstance(content, list):  # content parts: only the text ones count here
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    elif content is not None and not isinstance(content, str):
        msg = "Input should be a valid string"
        raise _invalid("string_type", f"messages.{index}.content", msg, content)
    return role, content or ""


def _max_tokens(body: dict[str, Any], *names: str) -> tuple[int | None, str]:
    for name in names:
        value = _opt_int(body, name)
        if value is not None:
            if value < 1:  # vLLM's SamplingParams check, named after its own field
                raise bad_request(
                    f"max_tokens must be at least 1, got {value}.", "max_tokens", value
                )
            return value, name
    return None, names[-1]


def _stream(body: dict[str, Any]) -> tuple[bool, bool]:
    stream = _opt_bool(body, "stream")
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise _invalid("dict_type", "stream_options", "Input should be a valid dict", options)
    if options and not stream:
        raise bad_request(
            "Stream options can only be defined when `stream=True`.", "stream_options"
        )
    return stream, bool(options.get("include_usage"))


def _continuous(body: dict[str, Any], include_usage: bool) -> bool:
    options = body.get("stream_options") or {}
    return include_usage and bool(options.get("continuous_usage_stats"))


def parse_chat(body: dict[str, Any]) -> GenerationRequest:
    model = _model(body)
    messages = body.get("messages")
    if messages is None:
        raise _invalid("missing", "messages", "Field required", body)
    if not isinstance(messages, list):
        raise _invalid("list_type", "messages", "Input should be a valid list", messages)
    turns = [_content(m, i) for i, m in enumerate(messages)]
    max_tokens, param = _max_tokens(body, "max_completion_tokens", "max_tokens")
    stream, include_usage = _stream(body)
    ignore_eos, seed = _opt_bool(body, "ignore_eos"), _opt_int(body, "seed")
    if not turns:
        raise bad_request(
            "Cannot apply chat template to an empty conversation. Provide at least one message."
        )
    prompt = text.tokenize_text(text.render_chat(turns), seed)
    continuous = _continuous(body, include_usage)
    return GenerationRequest(
        model, prompt, max_tokens, param, ignore_eos, stream, include_usage, continuous
    )


def _single_prompt(value: Any) -> str | list[int] | None:
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str | list):
        value = value[0]  # a batch of one
    if isinstance(value, str):
        return value or None
    if isinstance(value, list) and value and all(isinstance(t, int) for t in value):
        return [int(t) for t in value]
    if isinstance(value, list) and len(value) > 1:
        raise bad_request("The simulator takes one prompt per request.", "prompt")
    return None


def parse_completion(body: dict[str, Any]) -> GenerationRequest:
    model = _model(body)
    max_tokens, param = _max_tokens(body, "max_tokens")
    stream, include_usage = _stream(body)
    ignore_eos, seed = _opt_bool(body, "ignore_eos"), _opt_int(body, "seed")
    prompt = _single_prompt(body.get("prompt"))
    if prompt is None:
        raise bad_request(
            "Either prompt or prompt_embeds must be provided and non-empty.", "prompt"
        )
    if isinstance(prompt, str):
        tokens = text.tokenize_text(prompt, seed)
    else:
        tokens = text.tokenize_ids(prompt, seed)
    continuous = _continuous(body, include_usage)
    return GenerationRequest(
        model, tokens, max_tokens, param, ignore_eos, stream, include_usage, continuous
    )


def parse_embeddings(body: dict[str, Any]) -> EmbeddingRequest:
    model = _model(body)
    value = body.get("input")
    if value is None:
        raise _invalid("missing", "input", "Field required", body)
    items = (
        value if isinstance(value, list) and value and not isinstance(value[0], int) else [value]
    )
    inputs: list[tuple[str, ...]] = []
    for item in items:
        if isinstance(item, str):
            inputs.append(tuple(text.split_tokens(item)))
        elif isinstance(item, list) and all(isinstance(t, int) for t in item):
            inputs.append(tuple(str(t) for t in item))
        else:
            raise _invalid("string_type", "input", "Input should be a valid string", item)
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise bad_request(f"Unsupported encoding_format {encoding!r}.", "encoding_format")
    dims = _opt_int(body, "dimensions")
    if dims is not None and not 1 <= dims <= text.EMBEDDING_DIMS:
        raise bad_request(f"dimensions must be between 1 and {text.EMBEDDING_DIMS}.", "dimensions")
    return EmbeddingRequest(model, tuple(inputs), encoding == "base64", dims)


def check_model(requested: str | None, served: str) -> None:
    if requested is not None and requested != served:
        message = f"The model `{requested}` does not exist. Valid aliases: {served}."
        raise ApiError(404, "NotFoundError", message, "model")


def check_prompt_len(prompt_len: int, max_model_len: int) -> None:
    if prompt_len > max_model_len:
        raise bad_request(
            f"This model's maximum context length is {max_model_len} tokens. However, your "
            f"prompt contains {prompt_len} input tokens, which exceeds this limit even "
            "without any output tokens. Please reduce the length of the input prompt.",
            "input_tokens",
            prompt_len,
        )


def output_budget(request: GenerationRequest, max_model_len: int) -> int:
    """The max_tokens the engine will use, or a vLLM 0.32 error for an impossible request."""
    wanted, param = request.max_tokens, request.max_tokens_param
    if wanted is not None and wanted > max_model_len:
        raise bad_request(
            f"{param}={wanted} cannot be greater than max_model_len={max_model_len}. "
            "Please request fewer output tokens.",
            param,
            wanted,
        )
    prompt_len = request.prompt.count
    check_prompt_len(prompt_len, max_model_len)
    if prompt_len == max_model_len:
        raise bad_request(
            f"The decoder prompt (length {prompt_len}) plus the number of requested output "
            f"tokens (at least 1) is longer than the maximum model length of {max_model_len}. "
            "Make sure that `max_model_len` is no smaller than the number of text tokens "
            "(prompt + requested output tokens)."
        )
    room = max_model_len - prompt_len
    return room if wanted is None else min(wanted, room)
