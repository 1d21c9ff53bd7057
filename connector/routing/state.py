"""Routing state: the snapshot routing reads, and the changes it returns for the caller to apply.

``RoutingState`` is a snapshot the caller reads before routing: ``pointers`` (pool -> a counter that only grows;
the pool's turn is ``pointer % cycle``) and ``load`` (rep -> leads assigned on the rep's current local day).
``days`` (rep -> the local date, ISO, that ``load`` counts) is optional: a count whose day is not the rep's
current local day reads as 0, so a snapshot never needs resetting at midnight. Routing never mutates it; it
returns ``StateChange``s (pointer compare-and-set, load increment with the cap and the rep's local day) for the
service to apply atomically, or for ``apply_changes`` in simulate/bench/tests.
"""

from __future__ import annotations

import msgspec

from connector.decision import StateChange


class RoutingState(msgspec.Struct, kw_only=True, frozen=True):
    """Snapshot of routing counters (see the module docstring)."""

    pointers: dict[str, int] = {}
    load: dict[str, int] = {}
    days: dict[str, str] = {}


class StateConflict(Exception):
    """A change's compare-and-set failed: route the lead again on a fresh snapshot."""


def load_of(state: RoutingState, rep: str, day: str) -> int:
    """Leads rep has on local ``day`` (0 when the snapshot's count is for another day)."""
    counted = state.days.get(rep)
    return state.load.get(rep, 0) if counted is None or counted == day else 0


def apply_changes(state: RoutingState, changes: tuple[StateChange, ...] | list[StateChange]) -> RoutingState:
    """Apply changes as the service would (compare-and-set); StateConflict if one does not hold."""
    pointers, load, days = dict(state.pointers), dict(state.load), dict(state.days)
    for ch in changes:
        if ch.kind == "pointer":
            if pointers.get(ch.key, 0) != (ch.expected or 0):
                raise StateConflict(f"pool {ch.key}: pointer is {pointers.get(ch.key, 0)}, expected {ch.expected}")
            pointers[ch.key] = ch.value
        elif ch.kind == "load":
            day = ch.day or ""
            counted = days.get(ch.key)  # load_of(), on the dicts being built
            now = (load.get(ch.key, 0) if counted is None or counted == day else 0) + ch.value
            if ch.expected is not None and now > ch.expected:
                raise StateConflict(f"rep {ch.key}: {now} leads on {day} would exceed the cap {ch.expected}")
            load[ch.key] = now
            days[ch.key] = day
        else:
            raise ValueError(f"unknown state change kind {ch.kind!r}")
    return RoutingState(pointers=pointers, load=load, days=days)
