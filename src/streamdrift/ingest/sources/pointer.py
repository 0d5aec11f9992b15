"""JSON pointers (RFC 6901, https://www.rfc-editor.org/rfc/rfc6901): ``/request/features``, ``/inputs/0``.

A pointer is compiled once (:func:`compile_pointer`) and resolved per document. A miss raises
:class:`MappingMismatch` naming the pointer and the token that failed, which becomes the dead letter's detail.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from streamdrift.errors import BadRecordError, ConfigError

__all__ = ["MappingMismatch", "Resolver", "compile_pointer", "pointer_tokens"]

Resolver = Callable[[Any], Any]


class MappingMismatch(BadRecordError):
    """A message does not match its source's mapping: ``path`` is what failed (a pointer, a header, the key)."""

    def __init__(self, path: str, detail: str) -> None:
        self.path = path
        super().__init__("mapping_mismatch", f"{path}: {detail}")


def pointer_tokens(pointer: str) -> list[str]:
    """The reference tokens of a pointer (``~1`` and ``~0`` unescaped)."""
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise ConfigError(f"not a JSON pointer (RFC 6901, starts with '/'): {pointer!r}")
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer[1:].split("/")]


def compile_pointer(pointer: str) -> Resolver:
    """A function document -> the value at ``pointer``; raises :class:`MappingMismatch` when absent."""
    tokens = pointer_tokens(pointer)

    def resolve(doc: Any) -> Any:
        node = doc
        for depth, token in enumerate(tokens):
            if isinstance(node, dict):
                if token not in node:
                    keys = ", ".join(list(map(str, node))[:5]) + (", ..." if len(node) > 5 else "")
                    raise MappingMismatch(pointer, f"no {token!r} in {_at(tokens, depth - 1) or '/'} "
                                          f"(it has: {keys or 'nothing'})")
                node = node[token]
            elif isinstance(node, list):
                if not token.isdigit() or int(token) >= len(node):
                    raise MappingMismatch(pointer, f"no index {token!r} at {_at(tokens, depth - 1) or '/'!r}")
                node = node[int(token)]
            else:
                raise MappingMismatch(pointer, f"{_at(tokens, depth - 1) or '/'!r} is a {type(node).__name__}, "
                                      "not an object or array")
        return node

    # the common case first: every step a key of an object, looked up without the checks (a miss of any kind takes
    # the path above, which names it). Not with array indexes: a string would answer them with a character.
    if any(t.isdigit() for t in tokens) or not tokens:
        return resolve
    typed = tokens
    if len(typed) == 1:
        (only,) = typed

        def resolve_one(doc: Any) -> Any:
            try:
                return doc[only]
            except (KeyError, IndexError, TypeError):
                return resolve(doc)

        return resolve_one
    if len(typed) == 2:
        first, second = typed

        def resolve_two(doc: Any) -> Any:
            try:
                return doc[first][second]
            except (KeyError, IndexError, TypeError):
                return resolve(doc)

        return resolve_two

    def resolve_fast(doc: Any) -> Any:
        node = doc
        try:
            for token in typed:
                node = node[token]
        except (KeyError, IndexError, TypeError):
            return resolve(doc)
        return node

    return resolve_fast


def _at(tokens: list[str], depth: int) -> str:
    return "/" + "/".join(tokens[: depth + 1]) if depth >= 0 else ""
