"""A viewer's attack on the API, and an admin regex on a public job title (issue 17, build 1).

    uv run python bench/hostile.py [--health-s 3]

Starts its own Redis (embedded, a free port) and `leadrelay serve` (a free port, a viewer token), then:
- posts the 3.7 KB alias bomb (the website mapping with a source row whose `const:` holds 90 nested aliases) to
  the mapping preview, the lead preview and `/admin/fragment` as a viewer, and prints each answer's status and
  time, while `/health` is asked every 100 ms: it prints the health latencies' count, p99 and max;
- decides a lead whose 255-character title ('a' * 254 + '!') meets the catastrophic `^(\\w+\\s?)+$` of a
  `matches` condition, and prints how long that takes.
Asserts nothing; the figures are informal on a loaded machine.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ALIAS_BOMB_FILE = "mappings/sources/website.yaml"
CATASTROPHIC = r"^(\w+\s?)+$"  # backtracks 2^n on a run of word characters that ends in a non-match


def bomb_const(levels: int = 6, width: int = 15) -> str:
    """A YAML mapping of ``levels`` lists, each ``width`` aliases of the one before: ``width ** levels`` leaves
    from ``levels * width`` aliases (90 by default, under the old 100-alias check)."""
    lines = ["l0: &l0 lol"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


def alias_bomb(levels: int = 6, width: int = 15) -> str:
    """The shipped website mapping plus a row whose ``const:`` is the bomb (3.7 KB)."""
    const = "".join(f"      {line}\n" for line in bomb_const(levels, width).splitlines())
    return (ROOT / ALIAS_BOMB_FILE).read_text(encoding="utf-8") + "  - to: extra.bomb\n    const:\n" + const


def first_anchor_line(text: str) -> int:
    """The 1-based line of the first ``&anchor`` (where the loader refuses the file)."""
    return next(i for i, line in enumerate(text.splitlines(), 1) if "&" in line)
