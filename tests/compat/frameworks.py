"""Rows for the frameworks users build on: LangChain (langchain-openai's ChatOpenAI and
OpenAIEmbeddings) and LlamaIndex (its OpenAI-compatible embeddings class, and its
OpenAI-compatible LLM, ``OpenAILike``, run in an environment of its own by
``llamaindex_runner.py``: it needs openai<3)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any, Literal

from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI, OpenAIEmbeddings
from llama_index.embeddings.openai_like import OpenAILikeEmbedding  # type: ignore[import-untyped]
from pydantic import BaseModel, SecretStr

from tests.compat import llamaindex_env
from tests.compat.compare import coalesced, observe
from tests.compat.matrix import Observation, row
from tests.compat.openai_sdk import HELD_BACK, SYSTEM, TOKENS, TOOL_TOKENS, chat_stream_observation
from tests.compat.sides import CHAT_MODEL, Side


def chat_model(side: Side, max_tokens: int = TOKENS) -> ChatOpenAI:
    return ChatOpenAI(
        model=CHAT_MODEL, base_url=side.chat_url + "/v1", api_key=SecretStr(side.key),
        temperature=0, max_completion_tokens=max_tokens, max_retries=0, timeout=120,
    )  # fmt: skip


def _message(message: AIMessage) -> Observation:
    observed: Observation = observe(message.model_dump())
    return observed


def _text(observation: Observation) -> None:
    assert observation["text"].strip(), observation


@row("langchain invoke", "langchain", check=_text, personal_data=True)
def invoke(side: Side, prompt: str) -> Observation:
    answer = chat_model(side).invoke([SystemMessage(SYSTEM), HumanMessage(prompt)])
    assert isinstance(answer, AIMessage)
    return {"message": _message(answer), "text": str(answer.text)}


@row(
    "langchain stream",
    "langchain",
    check=_text,
    gdpr_may_change={"chunks": HELD_BACK},
)
def stream(side: Side, prompt: str) -> Observation:
    chunks = list(chat_model(side).stream([SystemMessage(SYSTEM), HumanMessage(prompt)]))
    observed = [observe(c.model_dump()) for c in chunks]
    whole = chunks[0]
    for chunk in chunks[1:]:
        whole = whole + chunk
    return {
        "chunks": coalesced(observed),
        "shape": coalesced(observed, text=False),
        "text": str(whole.text),
        "usage": whole.usage_metadata,
        "finish_reason": whole.response_metadata.get("finish_reason"),
    }


class Weather(BaseModel):
    """The current weather in a city."""

    city: Literal["Paris", "Berlin", "Rome"]


def _tool_call(observation: Observation) -> None:
    (call,) = observation["message"]["tool_calls"]
    assert call["name"] == "Weather", call
    assert call["args"]["city"] in ("Paris", "Berlin", "Rome"), call


@row("langchain bind_tools", "langchain", check=_tool_call)
def bind_tools(side: Side, prompt: str) -> Observation:
    model = chat_model(side, max_tokens=TOOL_TOKENS).bind_tools(
        [Weather], tool_choice="Weather", strict=True
    )
    answer = model.invoke([HumanMessage("What is the weather in Paris?")])
    assert isinstance(answer, AIMessage)
    return {"message": _message(answer)}


class Colour(BaseModel):
    colour: Literal["red", "green", "blue"]


def _colour(parsed: Observation) -> None:
    Colour.model_validate(parsed)


@row(
    "langchain with_structured_output",
    "langchain",
    check=lambda o: _colour(o["parsed"]),
)
def structured(side: Side, prompt: str) -> Observation:
    model = chat_model(side, max_tokens=30).with_structured_output(
        Colour, method="json_schema", include_raw=True
    )
    answer = model.invoke([HumanMessage("Name the colour of the sky as JSON.")])
    assert isinstance(answer, dict), answer
    assert answer["parsing_error"] is None, answer
    return {"raw": _message(answer["raw"]), "parsed": answer["parsed"].model_dump()}


def _vectors(observation: Observation) -> None:
    vectors = observation["vectors"]
    assert [len(v) for v in vectors] == [384, 384], vectors
    assert vectors[0] != vectors[1]


@row("langchain OpenAIEmbeddings", "langchain", check=_vectors)
def langchain_embeddings(side: Side, prompt: str) -> Observation:
    embedder = OpenAIEmbeddings(
        model=side.embeddings_model, openai_api_base=side.embeddings_url + "/v1",
        openai_api_key=SecretStr(side.key), check_embedding_ctx_length=False, max_retries=0,
    )  # fmt: skip
    return {"vectors": embedder.embed_documents([prompt, "Good night."])}


@row("llamaindex OpenAILikeEmbedding", "llamaindex", check=_vectors)
def llamaindex_embeddings(side: Side, prompt: str) -> Observation:
    embedder = OpenAILikeEmbedding(
        model_name=side.embeddings_model, api_base=side.embeddings_url + "/v1",
        api_key=side.key, max_retries=0,
    )  # fmt: skip
    return {
        "vectors": embedder.get_text_embedding_batch([prompt, "Good night."]),
        "query": embedder.get_query_embedding(prompt),
    }


def llamaindex(operation: str, side: Side, prompt: str) -> Any:
    """What LlamaIndex's OpenAILike gave, from its own environment (fails, saying to run
    `make install`, when that is not installed)."""
    python = llamaindex_env.installed(llamaindex_env.home())
    request = {
        "operation": operation, "base_url": side.chat_url, "key": side.key, "model": CHAT_MODEL,
        "system": SYSTEM, "prompt": prompt, "max_tokens": TOKENS,
    }  # fmt: skip
    done = subprocess.run(
        [str(python), str(Path(__file__).with_name("llamaindex_runner.py"))],
        input=json.dumps(request), capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"LlamaIndex {operation} on {side.name} failed:\n{done.stderr}"
    return json.loads(done.stdout)


@row("llamaindex OpenAILike chat", "llamaindex", check=_text, personal_data=True)
def llamaindex_chat(side: Side, prompt: str) -> Observation:
    got = llamaindex("chat", side, prompt)
    return {**got, "raw": observe(got["raw"])}


def _stream_text(observation: Observation) -> None:
    _text(observation)
    assert observation["deltas"] == observation["text"], observation
    assert observation["token_counts"], observation


@row(
    "llamaindex OpenAILike stream_chat",
    "llamaindex",
    check=_stream_text,
    gdpr_may_change={"chunks": HELD_BACK},
    personal_data=True,
)
def llamaindex_stream_chat(side: Side, prompt: str) -> Observation:
    got = llamaindex("stream_chat", side, prompt)
    # The raw chunks as the openai rows see them (text, finish reason, usage, the stream's
    # shape); the deltas LlamaIndex handed out, joined, since where they are cut may differ.
    return {
        **chat_stream_observation(observe(got["raw"])),
        "deltas": "".join(got["deltas"]),
        "text": got["text"],
        "token_counts": got["token_counts"],
    }


@row("llamaindex OpenAILike complete", "llamaindex", check=_text)
def llamaindex_complete(side: Side, prompt: str) -> Observation:
    got = llamaindex("complete", side, prompt)
    return {**got, "raw": observe(got["raw"])}
