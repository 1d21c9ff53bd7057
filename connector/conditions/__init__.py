"""Structured conditions for scoring, tags, segments and routing — data, never code.

A condition is a leaf ``{field, op, value}`` or a group ``{all: [...]}``, ``{any: [...]}``, ``{not: {...}}``.
Fields are dotted paths on :func:`lead_view` (``company.size``, ``tags``, ``answers.<key>``). Every condition
is checked and compiled when its file loads — an unknown field, an unknown operator, a value of the wrong
type or a bad regex is a ``ConfigError`` naming file:line and field — so evaluating one is a closure call.

String comparisons ignore case ("Healthcare" equals "healthcare"); ``matches`` regexes too. A missing value
(None, or a key the lead does not have) fails every operator except ``missing``, ``ne`` and ``not_in``.
On a list value (``tags``, ``flags``, ``intent.requests``, a multi-choice answer) ``eq``/``in`` test
membership; ``contains``/``contains_any`` test membership on lists and substrings on strings.

- ``fields``: the fields a condition can name, and the kind of value each holds;
- ``condition``: the ``Condition`` itself, checked when its file loads, and its reading in words;
- ``checks``: a condition compiled into its test;
- ``view``: the lead view the tests read (``lead_view``), and ``with_context`` to add a step's result to it.
"""

from connector.conditions.checks import Check
from connector.conditions.condition import OPERATORS, Condition, compile_condition, describe
from connector.conditions.fields import FIELDS, FREE_PREFIXES, field_kind
from connector.conditions.view import lead_view, with_context

__all__ = [
    "FIELDS",
    "FREE_PREFIXES",
    "OPERATORS",
    "Check",
    "Condition",
    "compile_condition",
    "describe",
    "field_kind",
    "lead_view",
    "with_context",
]
