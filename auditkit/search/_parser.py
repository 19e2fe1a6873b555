"""Search text to AST, and the AST back to canonical search text."""

from __future__ import annotations

import re
from collections.abc import Sequence

from auditkit import schema
from auditkit.errors import SearchSyntaxError
from auditkit.filters import (
    _did_you_mean,
)
from auditkit.search._ast import (
    _ALIASES,
    _AND_KEYS,
    _HAS,
    _SEPARATOR,
    _VALID_KEYS,
    KEYS,
    And,
    Node,
    Not,
    Or,
    Term,
    Text,
    _BadValue,
)
from auditkit.search._dates import _DATE_FORMS
from auditkit.search._ips import _IP_FORMS
from auditkit.search._values import _normalize_value

_KEY = re.compile(r"([A-Za-z_][A-Za-z0-9_]*):")
_OPERATORS = ("OR", "AND")


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.n = len(text)
        self.pos = 0

    def fail(self, message: str, position: int, valid: Sequence[str] = ()) -> None:
        raise SearchSyntaxError(message, query=self.text, position=position, valid=list(valid))

    def skip_space(self) -> None:
        while self.pos < self.n and self.text[self.pos].isspace():
            self.pos += 1

    def word_end(self, start: int, stop: str = '()"') -> int:
        end = start
        while end < self.n and not self.text[end].isspace() and self.text[end] not in stop:
            end += 1
        return end

    def operator(self) -> str | None:
        word = self.text[self.pos : self.word_end(self.pos)]
        return word if word in _OPERATORS else None

    def at_group_end(self) -> bool:
        return self.pos >= self.n or self.text[self.pos] == ")"

    def parse(self) -> Node:
        for index, char in enumerate(self.text):
            if "\ud800" <= char <= "\udfff":
                self.fail("invalid character: a lone UTF-16 surrogate", index)
        node = self.or_expr(group_start=None)
        self.skip_space()
        if self.pos < self.n:
            self.fail("unbalanced parenthesis: ')' has no matching '('", self.pos)
        return node

    def or_expr(self, group_start: int | None) -> Node:
        branches: list[Node] = []
        operator_at: int | None = None
        while True:
            items = self.and_expr()
            if items:
                branches.append(items[0] if len(items) == 1 else And(tuple(items)))
            elif operator_at is not None:
                self.fail("OR needs a term on its right", operator_at)
            self.skip_space()
            if self.operator() != "OR":
                break
            if not items:
                self.fail("OR needs a term on its left", self.pos)
            operator_at = self.pos
            self.pos += 2
        if not branches:
            if group_start is not None:
                self.fail("empty parentheses", group_start)
            return And(())
        return branches[0] if len(branches) == 1 else Or(tuple(branches))

    def and_expr(self) -> list[Node]:
        items: list[Node] = []
        merged: dict[str, int] = {}
        while True:
            self.skip_space()
            if self.at_group_end():
                return items
            operator = self.operator()
            if operator == "OR":
                return items
            if operator == "AND":
                at = self.pos
                if not items:
                    self.fail("AND needs a term on its left", at)
                self.pos += 3
                self.skip_space()
                if self.at_group_end() or self.operator():
                    self.fail("AND needs a term on its right", at)
                continue
            node, bare = self.unary()
            if bare and isinstance(node, Term) and node.key not in _AND_KEYS:
                if node.key in merged:
                    index = merged[node.key]
                    earlier = items[index]
                    assert isinstance(earlier, Term)
                    items[index] = Term(node.key, earlier.values + node.values)
                    continue
                merged[node.key] = len(items)
            items.append(node)

    def unary(self) -> tuple[Node, bool]:
        start = self.pos
        char = self.text[start]
        if char == "-":
            self.pos += 1
            if self.at_group_end() or self.text[self.pos].isspace() or self.operator():
                self.fail(
                    "'-' must be followed directly by a term to exclude, e.g. -status:failed "
                    '(to search for a dash, quote it: "-")',
                    start,
                )
            node, _ = self.unary()
            return Not(node), False
        if char == "(":
            self.pos += 1
            node = self.or_expr(group_start=start)
            self.skip_space()
            if self.pos >= self.n:
                self.fail("unbalanced parenthesis: '(' is never closed", start)
            self.pos += 1
            return node, False
        if char == '"':
            phrase = self.quoted()
            if phrase == "":
                self.fail("empty phrase", start)
            if _SEPARATOR in phrase:
                self.fail("phrases cannot contain the control character \\x1f", start)
            self.end_of_term(after_quote=True)
            return Text(phrase), False
        key = _KEY.match(self.text, start)
        if key is not None:
            return self.qualifier(key), True
        end = self.word_end(start)
        word = self.text[start:end]
        if word in _OPERATORS:
            self.fail(f"{word} needs a term on both sides", start)
        self.pos = end
        self.end_of_term(after_quote=False)
        return Text(word), False

    def end_of_term(self, after_quote: bool) -> None:
        if self.pos >= self.n or self.text[self.pos].isspace() or self.text[self.pos] == ")":
            return
        char = self.text[self.pos]
        if after_quote:
            self.fail(f"unexpected {char!r} after the closing quote; add a space", self.pos)
        self.fail(f"unexpected {char!r} in a word; put the whole phrase in quotes", self.pos)

    def quoted(self) -> str:
        start = self.pos
        out: list[str] = []
        i = start + 1
        while i < self.n:
            char = self.text[i]
            if char == "\\" and i + 1 < self.n and self.text[i + 1] in '"\\':
                out.append(self.text[i + 1])
                i += 2
                continue
            if char == '"':
                self.pos = i + 1
                return "".join(out)
            out.append(char)
            i += 1
        self.fail('unterminated quote: add the closing "', start)
        raise AssertionError  # unreachable: fail() raises

    def qualifier(self, match: re.Match[str]) -> Term:
        written = match.group(1)
        key = _ALIASES.get(written.lower(), written.lower())
        if key not in KEYS:
            suggestion = _did_you_mean(written.lower(), _VALID_KEYS)
            whole = self.text[self.pos : self.word_end(self.pos)]
            hint = suggestion or f'; to search for the text itself, quote it: "{whole}"'
            self.fail(f"unknown key {written!r}{hint}", self.pos, _VALID_KEYS)
        self.pos = match.end()
        values: list[str] = []
        while True:
            at = self.pos
            quoted = at < self.n and self.text[at] == '"'
            if quoted:
                raw = self.quoted()
            else:
                self.pos = self.word_end(at, stop='(),"')
                raw = self.text[at : self.pos]
            if raw == "":
                spaced = at < self.n and self.text[at].isspace()
                self.fail(
                    f"empty value for '{written}:'"
                    + (" (no space after the colon)" if spaced else ""),
                    at,
                    _examples(key),
                )
            try:
                values.append(_normalize_value(key, raw))
            except _BadValue as bad:
                self.fail(bad.message, at + quoted + bad.offset, bad.valid)
            if self.pos < self.n and self.text[self.pos] == ",":
                self.pos += 1
                continue
            break
        if self.pos < self.n and self.text[self.pos] in '"(':
            self.fail(
                f"unexpected {self.text[self.pos]!r} in a value; put the whole value in quotes",
                self.pos,
            )
        return Term(key, tuple(values))


def _examples(key: str) -> list[str]:
    return {
        "status": list(schema.STATUSES),
        "actor_type": list(schema.ACTOR_TYPES),
        "has": list(_HAS),
        "date": _DATE_FORMS,
        "ip": _IP_FORMS,
        "action": list(schema.ACTIONS),
    }.get(key, [])


def _needs_quotes(text: str, stop: str) -> bool:
    return text == "" or any(c.isspace() or c in stop for c in text)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _format_value(value: str) -> str:
    return _quote(value) if _needs_quotes(value, '(),"') else value


def _format_text(text: str) -> str:
    bare = (
        not _needs_quotes(text, '()"')
        and not text.startswith("-")
        and text not in _OPERATORS
        and _KEY.match(text) is None
    )
    return text if bare else _quote(text)


def _format(node: Node) -> str:
    if isinstance(node, Term):
        return f"{node.key}:" + ",".join(_format_value(v) for v in node.values)
    if isinstance(node, Text):
        return _format_text(node.text)
    if isinstance(node, Not):
        inner = _format(node.child)
        return "-" + (inner if isinstance(node.child, Term | Text | Not) else f"({inner})")
    if isinstance(node, And):
        parts = []
        seen: set[str] = set()
        for child in node.children:
            text = _format(child)
            if isinstance(child, And | Or):
                text = f"({text})"
            elif isinstance(child, Term) and child.key not in _AND_KEYS:
                # a bare repeat would be merged into one OR-ed term when re-parsed
                if child.key in seen:
                    text = f"({text})"
                seen.add(child.key)
            parts.append(text)
        return " ".join(parts)
    return " OR ".join(
        f"({_format(c)})" if isinstance(c, Or) else _format(c) for c in node.children
    )
