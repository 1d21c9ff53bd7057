"""A small real SOQL parser and evaluator for the sandbox (the subset leadrelay and its tests send).

Grammar followed (SOQL and SOSL Reference, SELECT):
https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select.htm

    SELECT field[, field...] FROM object
    [WHERE condition]  -- =, !=, <>, <, <=, >, >=, LIKE, IN (...), NOT IN (...), AND, OR, NOT, parentheses
    [ORDER BY field [ASC|DESC] [NULLS FIRST|LAST][, ...]]
    [LIMIT n] [OFFSET n]

Documented semantics kept: keywords and field names are case-insensitive; ``=`` and ``LIKE`` on text compare
case-insensitively; ``LIKE`` wildcards are ``%`` and ``_`` with ``\\`` escapes; string literals are single-quoted
with backslash escapes (https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_quotedstringescapes.htm);
nulls sort first ascending and last descending by default. Relationship fields one level deep (``Account.Name``,
``Owner.Email``) are resolved by a caller-supplied lookup. Date and dateTime literals are unquoted:
``2026-03-01`` and ``2026-03-01T09:30:00Z`` / ``...+01:00`` (fractions of a second allowed), and compare as dates and
instants (https://developer.salesforce.com/docs/atlas.en-us.soql_sosl.meta/soql_sosl/sforce_api_calls_soql_select_dateformats.htm),
as the incremental read ``WHERE SystemModstamp > 2026-03-01T09:30:00Z`` needs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

MAX_SOQL_LENGTH = 100_000  # SOQL statements cannot be longer than 100,000 characters (SOQL limits page)


class SoqlError(Exception):
    """A query Salesforce would refuse: ``error_code`` is MALFORMED_QUERY or INVALID_FIELD / INVALID_TYPE."""

    def __init__(self, message: str, error_code: str = "MALFORMED_QUERY") -> None:
        super().__init__(message)
        self.message = message
        self.error_code = error_code


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:\\.|[^'\\])*')
      | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:\d{2}))
      | (?P<date>\d{4}-\d{2}-\d{2})(?![\d:T])
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<op><=|>=|!=|<>|=|<|>)
      | (?P<punct>[(),])
      | (?P<word>[A-Za-z_][A-Za-z0-9_.]*)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {
    "select", "from", "where", "and", "or", "not", "in", "like", "order", "by", "asc", "desc",
    "nulls", "first", "last", "limit", "offset", "null", "true", "false",
}  # fmt: skip
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


@dataclass
class Tok:
    kind: str  # string | number | op | punct | word | kw
    value: Any
    pos: int


def _unquote(raw: str) -> str:
    out, i = [], 1
    while i < len(raw) - 1:
        ch = raw[i]
        if ch == "\\":
            nxt = raw[i + 1]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
            elif nxt in "%_":  # kept escaped for LIKE
                out.append("\\" + nxt)
            else:
                raise SoqlError(
                    f"Invalid string literal {raw}. Illegal character sequence '\\{nxt}' in string literal."
                )
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def tokenize(text: str) -> list[Tok]:
    toks: list[Tok] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            snippet = text[pos : pos + 20].strip()
            raise SoqlError(f"unexpected token: '{snippet}'")
        kind = m.lastgroup or ""
        raw = m.group(kind)
        if kind == "string":
            toks.append(Tok("string", _unquote(raw), m.start(kind)))
        elif kind in ("datetime", "date"):
            try:
                value: Any = (datetime.fromisoformat(raw.replace("Z", "+00:00")) if kind == "datetime"
                              else date.fromisoformat(raw))
            except ValueError as exc:
                raise SoqlError(f"invalid date or dateTime literal: {raw}") from exc
            toks.append(Tok("time", value, m.start(kind)))
        elif kind == "number":
            toks.append(Tok("number", float(raw) if "." in raw else int(raw), m.start(kind)))
        elif kind == "word" and raw.lower() in _KEYWORDS:
            toks.append(Tok("kw", raw.lower(), m.start(kind)))
        else:
            toks.append(Tok(kind, raw, m.start(kind)))
        pos = m.end()
    return toks


# --- AST -------------------------------------------------------------------------------------------------------


@dataclass
class Cmp:
    field: str
    op: str  # = != < <= > >= like in notin
    value: Any


@dataclass
class BoolOp:
    op: str  # and | or
    items: list[Any]


@dataclass
class Not:
    item: Any


@dataclass
class Query:
    fields: list[str]
    sobject: str
    where: Any = None
    order_by: list[tuple[str, bool, bool]] = field(default_factory=list)  # (field, descending, nulls_last)
    limit: int | None = None
    offset: int = 0


class _Parser:
    def __init__(self, text: str) -> None:
        if len(text) > MAX_SOQL_LENGTH:
            raise SoqlError("SOQL statements cannot be longer than 100,000 characters.")
        self.toks = tokenize(text)
        self.i = 0

    def peek(self) -> Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> Tok:
        tok = self.peek()
        if tok is None:
            raise SoqlError("unexpected end of query")
        self.i += 1
        return tok

    def is_kw(self, *words: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == "kw" and tok.value in words

    def expect_kw(self, word: str) -> None:
        tok = self.take()
        if tok.kind != "kw" or tok.value != word:
            raise SoqlError(f"unexpected token: '{tok.value}'; expected {word.upper()}")

    def expect_punct(self, ch: str) -> None:
        tok = self.take()
        if tok.kind != "punct" or tok.value != ch:
            raise SoqlError(f"unexpected token: '{tok.value}'; expected '{ch}'")

    def name(self) -> str:
        tok = self.take()
        if tok.kind != "word":
            raise SoqlError(f"unexpected token: '{tok.value}'")
        return str(tok.value)

    def parse(self) -> Query:
        self.expect_kw("select")
        fields = [self.name()]
        while (t := self.peek()) is not None and t.kind == "punct" and t.value == ",":
            self.take()
            fields.append(self.name())
        self.expect_kw("from")
        q = Query(fields=fields, sobject=self.name())
        if self.is_kw("where"):
            self.take()
            q.where = self.or_expr()
        if self.is_kw("order"):
            self.take()
            self.expect_kw("by")
            q.order_by.append(self.order_item())
            while (t := self.peek()) is not None and t.kind == "punct" and t.value == ",":
                self.take()
                q.order_by.append(self.order_item())
        if self.is_kw("limit"):
            self.take()
            q.limit = self.integer()
        if self.is_kw("offset"):
            self.take()
            q.offset = self.integer()
        if (t := self.peek()) is not None:
            raise SoqlError(f"unexpected token: '{t.value}'")
        return q

    def integer(self) -> int:
        tok = self.take()
        if tok.kind != "number" or not isinstance(tok.value, int) or tok.value < 0:
            raise SoqlError(f"unexpected token: '{tok.value}'; expected a non-negative integer")
        return tok.value

    def order_item(self) -> tuple[str, bool, bool]:
        name = self.name()
        desc = False
        if self.is_kw("asc", "desc"):
            desc = self.take().value == "desc"
        nulls_last = desc
        if self.is_kw("nulls"):
            self.take()
            tok = self.take()
            if tok.kind != "kw" or tok.value not in ("first", "last"):
                raise SoqlError(f"unexpected token: '{tok.value}'; expected FIRST or LAST")
            nulls_last = tok.value == "last"
        return name, desc, nulls_last

    def or_expr(self) -> Any:
        items = [self.and_expr()]
        while self.is_kw("or"):
            self.take()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else BoolOp("or", items)

    def and_expr(self) -> Any:
        items = [self.unary()]
        while self.is_kw("and"):
            self.take()
            items.append(self.unary())
        return items[0] if len(items) == 1 else BoolOp("and", items)

    def unary(self) -> Any:
        if self.is_kw("not"):
            self.take()
            return Not(self.unary())
        tok = self.peek()
        if tok is not None and tok.kind == "punct" and tok.value == "(":
            self.take()
            inner = self.or_expr()
            self.expect_punct(")")
            return inner
        return self.comparison()

    def comparison(self) -> Cmp:
        name = self.name()
        tok = self.take()
        if tok.kind == "op":
            op = "!=" if tok.value == "<>" else str(tok.value)
            return Cmp(name, op, self.literal())
        if tok.kind == "kw" and tok.value == "like":
            value = self.literal()
            if not isinstance(value, str):
                raise SoqlError("invalid LIKE pattern: expected a string literal")
            return Cmp(name, "like", value)
        if tok.kind == "kw" and tok.value == "in":
            return Cmp(name, "in", self.value_list())
        if tok.kind == "kw" and tok.value == "not" and self.is_kw("in"):
            self.take()
            return Cmp(name, "notin", self.value_list())
        raise SoqlError(f"unexpected token: '{tok.value}'")

    def value_list(self) -> list[Any]:
        self.expect_punct("(")
        values = [self.literal()]
        while (t := self.peek()) is not None and t.kind == "punct" and t.value == ",":
            self.take()
            values.append(self.literal())
        self.expect_punct(")")
        return values

    def literal(self) -> Any:
        tok = self.take()
        if tok.kind in ("string", "number", "time"):
            return tok.value
        if tok.kind == "kw" and tok.value in ("null", "true", "false"):
            return {"null": None, "true": True, "false": False}[tok.value]
        raise SoqlError(f"unexpected token: '{tok.value}'")


def parse(text: str) -> Query:
    """Parse one SOQL statement; raises :class:`SoqlError` with Salesforce's error code on bad input."""
    return _Parser(text).parse()


# --- evaluation ------------------------------------------------------------------------------------------------

Getter = Callable[[dict[str, Any], str], Any]


def _norm(v: Any) -> Any:
    return v.lower() if isinstance(v, str) else v


def _like(value: Any, pattern: str) -> bool:
    if value is None:
        return False
    rx, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            rx.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        rx.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.fullmatch("".join(rx), str(value), re.IGNORECASE | re.DOTALL) is not None


def _as_time(value: Any, like: Any) -> Any:
    """A stored date or dateTime string (``2026-03-01T09:30:00.000+0000``) as the kind of the literal ``like``."""
    if not isinstance(value, str):
        return value
    try:
        if isinstance(like, datetime):
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        return date.fromisoformat(value[:10]) if len(value) == 10 else None
    except ValueError:
        return None


def _compare(a: Any, op: str, b: Any) -> bool:
    if isinstance(b, (date, datetime)):
        a = _as_time(a, b)
    if op == "=":
        return bool(_norm(a) == _norm(b))
    if op == "!=":
        return bool(_norm(a) != _norm(b))
    if a is None or b is None:
        return False
    try:
        if op == "<":
            return bool(_norm(a) < _norm(b))
        if op == "<=":
            return bool(_norm(a) <= _norm(b))
        if op == ">":
            return bool(_norm(a) > _norm(b))
        if op == ">=":
            return bool(_norm(a) >= _norm(b))
    except TypeError:
        return False
    raise SoqlError(f"unsupported operator {op}")


def matches(node: Any, record: dict[str, Any], get: Getter) -> bool:
    """True when ``record`` satisfies the WHERE tree ``node``."""
    if node is None:
        return True
    if isinstance(node, BoolOp):
        results = (matches(n, record, get) for n in node.items)
        return all(results) if node.op == "and" else any(results)
    if isinstance(node, Not):
        return not matches(node.item, record, get)
    value = get(record, node.field)
    if node.op == "like":
        return _like(value, node.value)
    if node.op == "in":
        return any(_compare(value, "=", v) for v in node.value)
    if node.op == "notin":
        return all(_compare(value, "!=", v) for v in node.value)
    return _compare(value, node.op, node.value)


def where_fields(node: Any) -> list[str]:
    """Every field name the WHERE tree refers to (for INVALID_FIELD checks)."""
    if node is None:
        return []
    if isinstance(node, BoolOp):
        return [f for n in node.items for f in where_fields(n)]
    if isinstance(node, Not):
        return where_fields(node.item)
    return [node.field]


def sort_records(records: list[dict[str, Any]], order_by: list[tuple[str, bool, bool]], get: Getter) -> None:
    """Stable multi-key sort with SOQL's null ordering, in place."""
    for name, desc, nulls_last in reversed(order_by):
        present = [r for r in records if get(r, name) is not None]
        absent = [r for r in records if get(r, name) is None]
        present.sort(key=lambda r, n=name: _norm(get(r, n)), reverse=desc)  # type: ignore[misc]
        records[:] = present + absent if nulls_last else absent + present
