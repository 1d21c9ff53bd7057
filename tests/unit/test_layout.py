"""The house rules of the layout (DESIGN.md "Layout"), checked on the source so a change that breaks them fails.

- ``connector/`` (the pure core) imports only itself, the standard library (less its network and process
  modules) and the field libraries it decides with.
- ``adapters/`` and ``worker/`` never import ``sandbox`` or ``leadrelay``; no production package imports
  ``sandbox`` at module level (the demo and the sandbox command load it inside the function that needs it).
- No code outside ``adapters/``, ``sandbox/``, ``mappings/``, ``tests/`` and the settings names a vendor:
  a new CRM is one folder in ``adapters/`` and one registry line.
- Modules fit in a screen or two (~450 lines); a function over 60 lines says why in a ``# long:`` comment.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = ("connector", "adapters", "worker", "leadrelay")

# what the core may import beside itself: the standard library less I/O to other systems, and the field libraries
CORE_THIRD_PARTY = {
    "msgspec", "yaml", "phonenumbers", "email_validator", "disposable_email_domains", "cleanco", "tldextract",
    "pycountry", "nameparser", "rapidfuzz", "holidays", "structlog", "dateutil", "re2",
}
STDLIB_IO = {"socket", "ssl", "http", "urllib", "asyncio", "subprocess", "multiprocessing", "smtplib", "ftplib",
             "xmlrpc", "socketserver", "selectors", "imaplib", "poplib", "telnetlib", "sqlite3", "threading"}
VENDOR = re.compile(r"\b(hubspot|salesforce)", re.IGNORECASE)
# the settings are the one place outside adapters/ allowed to name the vendors (their LEADRELAY_* variables)
VENDOR_EXEMPT = {Path("connector/settings.py")}
MAX_MODULE_LINES = 450
MAX_FUNCTION_LINES = 60


def _files(*packages: str) -> Iterator[Path]:
    for pkg in packages:
        yield from sorted((ROOT / pkg).rglob("*.py"))


def _imports(tree: ast.AST, *, top_level_only: bool = False) -> Iterator[tuple[int, str]]:
    nodes = tree.body if top_level_only and isinstance(tree, ast.Module) else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module


def _rel(path: Path) -> Path:
    return path.relative_to(ROOT)


def test_the_core_imports_only_itself_the_standard_library_and_field_libraries() -> None:
    allowed_std = set(sys.stdlib_module_names) - STDLIB_IO
    offenders = []
    for path in _files("connector"):
        for line, name in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            top = name.split(".")[0]
            if top == "connector" or top in CORE_THIRD_PARTY or top in allowed_std:
                continue
            offenders.append(f"{_rel(path)}:{line}: imports {name}")
    assert not offenders, "\n".join(offenders)


def test_adapters_and_worker_import_neither_sandbox_nor_edges() -> None:
    offenders = [f"{_rel(path)}:{line}: imports {name}"
                 for path in _files("adapters", "worker", "connector")
                 for line, name in _imports(ast.parse(path.read_text(encoding="utf-8")))
                 if name.split(".")[0] in {"sandbox", "leadrelay"}]
    assert not offenders, "\n".join(offenders)


def test_no_production_module_imports_the_sandbox_at_import_time() -> None:
    offenders = [f"{_rel(path)}:{line}: imports {name}"
                 for path in _files(*PRODUCTION)
                 for line, name in _imports(ast.parse(path.read_text(encoding="utf-8")), top_level_only=True)
                 if name.split(".")[0] == "sandbox"]
    assert not offenders, "\n".join(offenders)


def _docstring_nodes(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def test_only_adapters_sandbox_and_settings_name_a_vendor() -> None:
    offenders = []
    for path in _files("connector", "worker", "leadrelay"):
        if _rel(path) in VENDOR_EXEMPT:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docs = _docstring_nodes(tree)
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
                    and VENDOR.search(node.value)):
                offenders.append(f"{_rel(path)}:{node.lineno}: {node.value[:60]!r}")
    assert not offenders, "a vendor named outside adapters/:\n" + "\n".join(offenders)


def test_modules_fit_in_a_screen_or_two() -> None:
    long = [f"{_rel(p)}: {n} lines" for p in _files(*PRODUCTION, "sandbox")
            if (n := p.read_text(encoding="utf-8").count("\n")) > MAX_MODULE_LINES]
    assert not long, "\n".join(long)


def test_long_functions_say_why() -> None:
    offenders = []
    for path in _files(*PRODUCTION, "sandbox"):
        lines = path.read_text(encoding="utf-8").splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                head = lines[node.lineno - 1: node.lineno + 4]
                if length > MAX_FUNCTION_LINES and not any("# long:" in h for h in head):
                    offenders.append(f"{_rel(path)}:{node.lineno}: {node.name} is {length} lines")
    assert not offenders, "say why with a '# long:' comment near the def, or split it:\n" + "\n".join(offenders)


def test_the_checks_look_at_something() -> None:
    assert sum(1 for _ in _files("connector")) >= 10
    assert sum(1 for _ in _files("adapters")) >= 10
    assert sum(1 for _ in _files("worker")) >= 5
