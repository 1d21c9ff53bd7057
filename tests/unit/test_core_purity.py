"""The core decides; it imports no adapter, no worker, no Redis and no HTTP.

`connector/api` and `connector/cli` are the edge (they wire adapters in) and are exempt.
"""

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "connector"
EDGE = {"api", "cli"}
FORBIDDEN = ("adapters", "worker", "redis", "arq", "httpx", "requests", "litestar", "uvicorn",
             "simple_salesforce", "hubspot", "urllib3", "socket", "aiohttp")


def _core_files() -> list[Path]:
    return [p for p in CORE.rglob("*.py") if p.relative_to(CORE).parts[0] not in EDGE]


def test_core_imports_no_io() -> None:
    offenders = []
    for path in _core_files():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in FORBIDDEN:
                    offenders.append(f"{path.relative_to(CORE.parent)}: imports {name}")
    assert not offenders, "\n".join(offenders)


def test_core_files_exist() -> None:
    # the check above must be looking at something
    assert len(_core_files()) >= 5
