"""Every Redis key is built in one module, ``worker/store/keys.py``: production code elsewhere that builds a key
from strings (an f-string or concatenation holding a key fragment, ``prefix + "..."``, ``store.k(...)``) fails.

The check reads the source with ``ast``; ``key_offenders`` is its helper, shown to catch planted examples below.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = ("connector", "adapters", "worker", "leadrelay")
KEYS_MODULE = Path("worker/store/keys.py")
# the first segments of leadrelay's keys (see worker/store/keys.py); a segment is followed by ":" and more, or ends
# the text ("accounts: ..." is prose)
FRAGMENTS = ("lead", "writes", "dlq", "ident", "route", "inbound", "done", "lock", "accounts", "metrics", "record",
             "ratelimit", "parked", "breaker")
FRAGMENT = re.compile(r"(?:^|:)(?:" + "|".join(FRAGMENTS) + r")(?::(?!\s)|$)")
LITERAL_KEY = re.compile(r"^leadrelay[\w-]*:(?:queue|" + "|".join(FRAGMENTS) + r")\b")
KEY_TEXT = re.compile(r"[A-Za-z*]")  # what a prefix is followed by in a key or a SCAN pattern (not "prefix + '.'")
# The CRM adapters' own limiter keys: adapters import only the core, so they build these from the key prefix they
# are given (``Keys.ratelimit`` / ``Keys.allocation_exhausted`` name the shapes). Nothing else is let through.
ADAPTER_OWNED = re.compile(r"^ratelimit:|:allocation-exhausted$")


def _name(node: ast.AST) -> str:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""


def _is_prefix(node: ast.AST) -> bool:
    return _name(node) == "p" or _name(node).endswith("prefix")


def _is_key_prefix(node: ast.AST) -> bool:
    """``settings.key_prefix`` and the like: whatever is added to it is a key (or an arq job id)."""
    return _name(node).endswith("key_prefix")


def _strings(node: ast.AST) -> list[str]:
    """The literal text of a string expression: a constant, or an f-string's constant parts."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return [v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str)]
    return []


def _template(text: str) -> str:
    """A %- or str.format template with its placeholders as segment boundaries."""
    return re.sub(r"%[sdr]|\{[^}]*\}", ":", text)


def _operands(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _operands(node.left) + _operands(node.right)
    return [node]


def _built_key(node: ast.AST) -> str | None:
    """Why this expression builds a Redis key, or None."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        if node.func.attr == "k":
            return "calls .k(...)"
        if node.func.attr in {"join", "format"}:
            parts = [_template(t) for t in _strings(node.func.value)]
            parts += [s for a in node.args for e in _operands(a) for s in _strings(e)]
            parts += [s for a in node.args if isinstance(a, ast.List | ast.Tuple) for e in a.elts for s in _strings(e)]
            if any(FRAGMENT.search(p) for p in parts):
                return f"{node.func.attr}s a key fragment"
    if isinstance(node, ast.JoinedStr):
        parts = _strings(node)
        first = node.values[0] if node.values else None
        if isinstance(first, ast.FormattedValue) and _is_prefix(first.value) and any(KEY_TEXT.search(p) for p in parts):
            return "an f-string starting with the key prefix"
        if any(isinstance(v, ast.FormattedValue) and _is_key_prefix(v.value) for v in node.values):
            return "an f-string with the key prefix"
        if any(FRAGMENT.search(p) for p in parts):
            return "an f-string with a key fragment"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        ops = _operands(node)
        if _is_key_prefix(ops[0]) or (_is_prefix(ops[0]) and any(KEY_TEXT.search(s) for o in ops[1:]
                                                                 for s in _strings(o))):
            return "prefix + a string"
        if any(FRAGMENT.search(s) for o in ops for s in _strings(o)) and any(not _strings(o) for o in ops):
            return "a concatenation with a key fragment"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and any(FRAGMENT.search(_template(s))
                                                                           for s in _strings(node.left)):
        return "%-formats a key fragment"
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and LITERAL_KEY.search(node.value):
        return "a whole key as a literal"
    return None


def _allowed(node: ast.AST, rel: str) -> bool:
    return rel.startswith("adapters/") and any(ADAPTER_OWNED.search(s) for o in _operands(node) for s in _strings(o))


def key_offenders(source: str, rel: str = "<planted>") -> list[str]:
    """``rel:line: why`` for every Redis key the source builds itself."""
    tree = ast.parse(source)
    inner: set[int] = set()  # the parts of an expression already reported
    out = []
    for node in ast.walk(tree):
        if id(node) in inner:
            continue
        why = _built_key(node)
        if why is None or _allowed(node, rel):
            continue
        inner.update(id(n) for n in ast.walk(node))
        out.append(f"{rel}:{node.lineno}: {why}: {ast.unparse(node)[:80]}")
    return out


def _production_files() -> Iterator[Path]:
    for pkg in PRODUCTION:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            if path.relative_to(ROOT) != KEYS_MODULE:
                yield path


def test_only_the_keys_module_builds_redis_keys() -> None:
    offenders = [o for path in _production_files()
                 for o in key_offenders(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))]
    assert not offenders, "build Redis keys with worker.store.keys.Keys:\n" + "\n".join(offenders)


def test_the_check_looks_at_production_code() -> None:
    assert sum(1 for _ in _production_files()) >= 40
    assert (ROOT / KEYS_MODULE).is_file()


PLANTED = {
    "f-string with a fragment": 'key = f"{store_p}lead:{lead_id}"',
    "f-string from the prefix": 'key = f"{settings.key_prefix}anything:{x}"',
    "store.k": 'key = store.k("done", source, delivery_id)',
    "prefix concatenation": 'key = prefix + "writes:" + crm',
    "fragment concatenation": 'key = base + ":dlq"',
    "join": 'key = ":".join([p, "lock", name])',
    "percent": 'key = "%saccounts:version" % p',
    "format": 'key = "{}metrics:{}".format(p, name)',
    "literal": 'QUEUE = "leadrelay:queue"',
    "job id": 'key = settings.key_prefix + job_id',
    "scan pattern": 'key = f"{prefix}*"',
}


@pytest.mark.parametrize("source", PLANTED.values(), ids=PLANTED.keys())
def test_the_check_catches_a_planted_key(source: str, tmp_path: Path) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text(f"def f(store, settings, prefix, p, base, crm, name, source, delivery_id, lead_id, x):\n"
                       f"    {source}\n    return key\n", encoding="utf-8")
    found = key_offenders(planted.read_text(encoding="utf-8"), "worker/planted.py")
    assert len(found) == 1, found


@pytest.mark.parametrize("source", [
    'msg = f"{n} accounts synced"',
    'msg = f"identity {name} stayed locked for {wait_s:g}s"',
    'record = f"{task.crm}:{record_id}"',
    'dl_id = f"delivery:{source}:{delivery_id}"',
    'raise ConfigError(f"accounts: {a!r} is neither a domain nor a company name")',
    'owner = f"queue:{a.queue}"',
    'path = prefix + "."',
    '"""Docs may say p+"lead:{id}" freely."""',
    'labels = {"route": route, "status": "500"}',
])
def test_the_check_lets_ordinary_strings_through(source: str) -> None:
    assert key_offenders(source) == []


def test_adapters_may_build_only_their_own_limiter_keys() -> None:
    limiter = 'key = f"{key_prefix}ratelimit:crm:{account}"'
    assert key_offenders(limiter, "adapters/crm_x/client.py") == []
    assert key_offenders(limiter, "worker/x.py")  # not outside adapters/
    assert key_offenders('key = f"{key_prefix}lead:{x}"', "adapters/crm_x/client.py")


def test_the_keys_are_the_ones_data_already_lives_under() -> None:
    from worker.store.keys import Keys, anonymous_identity, arq_in_progress, arq_job, arq_result

    k = Keys("lr:")
    assert [k.route_pointer, k.route_load, k.route_day, k.route_version, k.ident] == [
        "lr:route:pointer", "lr:route:load", "lr:route:day", "lr:route:version", "lr:ident"]
    assert k.lead("ld_1") == "lr:lead:ld_1" and k.record("crm", "7") == "lr:record:crm:7"
    assert k.lock(anonymous_identity("ld_1")) == "lr:lock:lead:ld_1" and k.lock("email:a@b.c") == "lr:lock:email:a@b.c"
    assert k.inbound("form", "m1") == "lr:inbound:form:m1" and k.done("form", "m1") == "lr:done:form:m1"
    assert k.writes("crm") == "lr:writes:crm" and k.write_batch("crm", "j") == "lr:writes:crm:batch:j"
    assert k.write_batches("crm") == "lr:writes:crm:batches"
    assert k.identity("email:a@b.c") == "lr:ident:email:a@b.c"
    assert (k.parked("crm"), k.breaker("crm")) == ("lr:parked:crm", "lr:breaker:crm")
    assert k.delivery_unpark_job("form", "m1", 1.5) == "lr:delivery:form:m1:unpark:1.5"
    assert (k.dlq, k.dlq_entry("x")) == ("lr:dlq", "lr:dlq:x")
    assert (k.accounts, k.accounts_version, k.accounts_tmp("t")) == ("lr:accounts", "lr:accounts:version",
                                                                     "lr:accounts:tmp:t")
    assert k.metric("m") == "lr:metrics:m" and k.queue == "lr:queue" and Keys().queue == "leadrelay:queue"
    assert k.delivery_job("form", "m1") == "lr:delivery:form:m1"
    assert k.delivery_replay_job("form", "m1", 1.5) == "lr:delivery:form:m1:replay:1.5"
    assert k.write_back_job("crm", 42) == "lr:write_back:crm:42"
    assert k.write_back_full_job("crm", 7) == "lr:write_back:crm:full:7"
    assert k.write_back_replay_job("d") == "lr:write_back:replay:d"
    assert (arq_job("j"), arq_result("j"), arq_in_progress("j")) == ("arq:job:j", "arq:result:j", "arq:in-progress:j")
    assert k.everything == ("lr:*", "arq:*lr:*")
