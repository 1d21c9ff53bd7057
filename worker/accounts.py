"""The account index: every CRM company/account with a domain, copied into Redis by a background sync, and
each process's in-memory index of it for lead-to-account matching (no CRM call per lead)."""

from __future__ import annotations

import asyncio
import time

import structlog

from connector.config import Config
from connector.match import IdentityIndex
from connector.ports import CrmClient
from worker.store import Store

log = structlog.get_logger("leadrelay.worker")


class AccountIndex:
    """This process's copy of the account index, reloaded when a sync has published a new version."""

    def __init__(self, store: Store, crm: CrmClient, config: Config, *, check_every_s: float = 5.0) -> None:
        self.store = store
        self.crm = crm
        self.config = config
        self.check_every_s = check_every_s
        self._index = IdentityIndex()
        self._version: bytes | None = None
        self._checked = 0.0

    def use_config(self, config: Config) -> None:
        """A new config version: rebuild the index with its matching rules when they changed."""
        if config.matching != self.config.matching:
            self._version, self._checked = None, 0.0
        self.config = config

    async def current(self) -> IdentityIndex:
        """The index, after looking (at most every ``check_every_s``) whether a sync published a newer one."""
        now = time.monotonic()
        if now - self._checked >= self.check_every_s:
            self._checked = now
            version = await self.store.accounts_version()
            if version != self._version:
                self._index = IdentityIndex(await self.store.account_records(), config=self.config.matching)
                self._version = version
        return self._index

    async def sync(self) -> int:
        """Copy every CRM company/account with a domain into Redis (replacing the old copy atomically)."""
        records = await asyncio.to_thread(self.crm.accounts)
        await self.store.replace_accounts(records)
        self._checked = 0.0
        log.info("accounts_synced", crm=self.crm.name, accounts=len(records))
        return len(records)

    async def sync_if_never_synced(self) -> None:
        """On a fresh Redis, lead-to-account matching needs the accounts before the first lead."""
        if await self.store.accounts_version() is None:
            await self.sync()
