"""PLACEHOLDER — replaced by the salesforce sandbox helper. Keeps the server importable."""

from __future__ import annotations

from typing import Any

from adapters.sandbox.common import Faults


class SalesforceSandbox:
    def __init__(self, faults: Faults, **options: Any) -> None:
        self.faults = faults

    def route_handlers(self) -> list[Any]:
        return []

    def reset(self) -> None:
        pass

    def records(self) -> dict[str, list[dict[str, Any]]]:
        return {}

    def close(self) -> None:
        pass
