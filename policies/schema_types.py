"""Which JSON types a JSON schema allows at a path of a document: what a masked value may become.

A masked value in a JSON answer becomes a JSON string where the request's schema allows one;
``types_at`` answers that for one path (``("items", 2, "card")``). It reads the keywords
that say where a value sits and what it may be: ``properties``, ``patternProperties``,
``additionalProperties``, ``items``, ``prefixItems``, local ``$ref`` (``#/$defs/...``, as
pydantic writes them), ``anyOf`` / ``oneOf`` / ``allOf``, ``type``, ``const``, ``enum`` and
OpenAPI's ``nullable``. It errs towards "anything": what it cannot read (a remote ``$ref``,
a cycle, a schema too large to follow) allows every type. Other constraints (``pattern``,
``format``, lengths) are not read: a masked value keeps its type, not its format.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

Step = str | int | None
_OBJECT_KEYS = ("properties", "patternProperties", "additionalProperties")
_ARRAY_KEYS = ("items", "prefixItems", "additionalItems")
_COMBINATORS = ("anyOf", "oneOf", "allOf")
_BUDGET = 512  # schema nodes visited for one path, at most


class _Unreadable(Exception):
    """The schema cannot be followed here: every type is allowed."""


def types_at(schema: Any, path: Sequence[Step]) -> frozenset[str] | None:
    """The JSON types ``schema`` allows for the value at ``path`` ("string", "number",
    "integer", "boolean", "null", "object", "array"); None: any type, or unknown."""
    return lookup(schema, path)[0]


def lookup(schema: Any, path: Sequence[Step]) -> tuple[frozenset[str] | None, str]:
    """(``types_at``, the path as ``items.2.card``, with every key the schema does not
    declare as ``*``: a name the model made up is not repeated in an error message)."""
    walk = _Walk(schema)
    shown: list[str] = []
    try:
        nodes = [schema]
        for step in path:
            declared = False
            children: list[Any] = []
            for node in nodes:
                found, named = walk.children(node, step)
                children.extend(c for c in found if c is not False)
                declared = declared or named
            shown.append(str(step) if isinstance(step, int) or declared else "*")
            if not children:
                return None, ".".join(shown)  # the document left the schema: it cannot say
            nodes = children
        allowed: set[str] = set()
        for node in nodes:
            types = walk.types(node)
            if types is None:
                return None, ".".join(shown)
            allowed |= types
    except _Unreadable:
        return None, ".".join(shown)
    return frozenset(allowed), ".".join(shown)


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


class _Walk:
    """One path's walk through one schema, within a budget of nodes."""

    def __init__(self, root: Any) -> None:
        self._root = root
        self._left = _BUDGET

    def resolve(self, node: Any) -> Any:
        for _ in range(32):
            self._left -= 1
            if self._left < 0:
                raise _Unreadable
            ref = node.get("$ref") if isinstance(node, dict) else None
            if not isinstance(ref, str):
                return node
            node = self._pointer(ref)
        raise _Unreadable  # a chain of references that does not end

    def _pointer(self, ref: str) -> Any:
        if not ref.startswith("#"):
            raise _Unreadable  # a remote reference: not fetched
        node = self._root
        for part in ref[1:].split("/")[1:]:
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise _Unreadable
        return node

    def types(self, node: Any) -> frozenset[str] | None:
        node = self.resolve(node)
        if not isinstance(node, dict):
            return frozenset() if node is False else None
        allowed = _declared(node)
        for key in _COMBINATORS:
            members = node.get(key)
            if not isinstance(members, list) or not members:
                continue
            found = [self.types(member) for member in members]
            if key == "allOf":
                for types in found:
                    allowed = _both(allowed, types)
            else:
                known = [types for types in found if types is not None]
                union = frozenset().union(*known) if len(known) == len(found) else None
                allowed = _both(allowed, union)
        return allowed

    def children(self, node: Any, step: Step) -> tuple[list[Any], bool]:
        """(the schemas of ``node``'s child ``step``, whether ``node`` names that key)."""
        node = self.resolve(node)
        if not isinstance(node, dict):
            return ([] if node is False else [True]), False
        container = "array" if isinstance(step, int) else "object"
        declared = _declared(node)
        keys = _ARRAY_KEYS if container == "array" else _OBJECT_KEYS
        combined = [m for k in _COMBINATORS if isinstance(node.get(k), list) for m in node[k]]
        out: list[Any] = []
        named = False
        if (declared is None or container in declared) and (
            any(k in node for k in keys) or not combined
        ):
            if container == "array":
                out.append(_item(node, step))
            else:
                found, named = _property(node, step)
                out.extend(found)
        for member in combined:
            found, also = self.children(member, step)
            out.extend(found)
            named = named or also
        return out, named


def _declared(node: dict[str, Any]) -> frozenset[str] | None:
    kind = node.get("type")
    named: frozenset[str] | None = None
    if isinstance(kind, str):
        named = frozenset({kind, "null"} if node.get("nullable") is True else {kind})
    elif isinstance(kind, list):
        named = frozenset(k for k in kind if isinstance(k, str))
    values: frozenset[str] | None = None
    if "const" in node:
        values = frozenset({json_type(node["const"])})
    elif isinstance(node.get("enum"), list):
        values = frozenset(json_type(v) for v in node["enum"])
    return _both(named, values)


def _both(a: frozenset[str] | None, b: frozenset[str] | None) -> frozenset[str] | None:
    if a is None:
        return b
    if b is None:
        return a
    both = a & b
    if ("number" in a and "integer" in b) or ("integer" in a and "number" in b):
        both |= {"integer"}
    return both


def _item(node: dict[str, Any], step: Step) -> Any:
    index = step if isinstance(step, int) else 0
    prefix = node.get("prefixItems")
    items = node.get("items", True)
    if isinstance(prefix, list):
        return prefix[index] if index < len(prefix) else items
    if isinstance(items, list):  # draft 4's tuples
        return items[index] if index < len(items) else node.get("additionalItems", True)
    return items


def _property(node: dict[str, Any], step: Step) -> tuple[list[Any], bool]:
    properties = node.get("properties")
    if isinstance(properties, dict) and isinstance(step, str) and step in properties:
        return [properties[step]], True
    found: list[Any] = []
    patterns = node.get("patternProperties")
    if isinstance(patterns, dict) and isinstance(step, str):
        for pattern, schema in patterns.items():
            try:
                if re.search(pattern, step):
                    found.append(schema)
            except re.error:
                found.append(True)  # a pattern Python cannot read: it may match
    if not found:
        found.append(node.get("additionalProperties", True))
    return found, False
