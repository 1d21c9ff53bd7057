"""Batch clustering (``leadrelay dedupe``): which rows of a list are the same person.

Blocking, not all-pairs: rows are compared only when they share an email, a phone or a person key, by the same
rules as live matching.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from connector.match.config import DEFAULT, MatchConfig
from connector.match.ident import Ident, ident, lead_ident, person_keys
from connector.match.rules import person_rule
from connector.model import Lead

ROW_FIELDS = ("first_name", "last_name", "email", "phone", "company", "domain")


def row_ident(row: Lead | Mapping[str, str | None]) -> Ident:
    """Prepare a canonical lead or a plain row with the ``ROW_FIELDS`` keys (missing keys are empty)."""
    if isinstance(row, Lead):
        return lead_ident(row)
    return ident(
        email=row.get("email") or None,
        phone=row.get("phone") or None,
        first_name=row.get("first_name") or None,
        last_name=row.get("last_name") or None,
        company=row.get("company") or None,
        domain=row.get("domain") or None,
    )


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        parent = self.parent
        root = i
        while parent[root] != root:
            root = parent[root]
        while parent[i] != root:
            parent[i], i = root, parent[i]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            # the smaller row number becomes the root, so cluster order follows the input
            if ra < rb:
                self.parent[rb] = ra
            else:
                self.parent[ra] = rb


def cluster_idents(idents: Sequence[Ident], *, config: MatchConfig = DEFAULT) -> list[int]:
    """Cluster ids (1, 2, … in order of first appearance) for prepared identities; see ``cluster_rows``."""
    n = len(idents)
    uf = _UnionFind(n)
    blocks: dict[str, list[int]] = {}
    for i, p in enumerate(idents):
        if p.email:
            blocks.setdefault(f"email:{p.email}", []).append(i)
        if p.phone:
            blocks.setdefault(f"phone:{p.phone}", []).append(i)
        for key in person_keys(p):
            blocks.setdefault(key, []).append(i)
    window = max(2, config.cluster.max_block)
    for key, members in blocks.items():
        if len(members) < 2:
            continue
        if key.startswith("email:"):
            # same normalized email: the same person by definition, no comparison needed
            for j in members[1:]:
                uf.union(members[0], j)
            continue
        if len(members) > window:
            # a huge block (a switchboard number, "J. Smith" at a giant): compare neighbours by name only
            members = sorted(members, key=lambda k: (idents[k].last, idents[k].first))
        for x, a in enumerate(members):
            pa = idents[a]
            for b in members[x + 1 : x + window]:
                if uf.find(a) != uf.find(b) and person_rule(pa, idents[b], config) is not None:
                    uf.union(a, b)
    ids: dict[int, int] = {}
    out: list[int] = []
    for i in range(n):
        root = uf.find(i)
        if root not in ids:
            ids[root] = len(ids) + 1
        out.append(ids[root])
    return out


def cluster_rows(rows: Iterable[Lead | Mapping[str, str | None]], *, config: MatchConfig = DEFAULT) -> list[int]:
    """Group rows that are the same person: one cluster id per row (1, 2, … in order of first appearance).

    Blocking, not all-pairs: rows are compared only when they share an email, a phone or a person key,
    by the same rules as ``match``; a block larger than ``cluster.max_block`` is compared as a sliding window.
    """
    return cluster_idents([row_ident(r) for r in rows], config=config)
