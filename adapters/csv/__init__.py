"""CSV files leadrelay writes for people to open: every cell formula-safe.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula (and some read a leading tab
or carriage return past, to the same end): a lead's ``=cmd|' /C calc'!A0`` written back verbatim runs when the
file is opened. OWASP's advice (CSV Injection): prefix such a cell with a single quote, which spreadsheets show as
text. A plain number (``-42``, ``+14155550123``) is left as it is: it is read as a number and runs nothing.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?\d+(?:[.,]\d+)*")


def formula_safe(cell: str) -> str:
    """``cell`` as a spreadsheet shows it without running it: a single quote before a formula's first character."""
    if cell.startswith(_FORMULA_START) and not _NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


class SafeWriter:
    """``csv.writer`` whose every cell goes through ``formula_safe`` (non-strings as ``str``)."""

    def __init__(self, fh: Any, **fmt: Any) -> None:
        self._writer = csv.writer(fh, **fmt)

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([formula_safe(cell if isinstance(cell, str) else str(cell)) for cell in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)
