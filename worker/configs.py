"""Config versions in Redis: publish, roll back, drafts, and the follower every process keeps current.

A version is a whole bundle (bundle key -> YAML text, see ``connector.config``) with its author, time, message and
the diff from the version before. Publishing is one MULTI: the version, its history entry and the ``current``
pointer move together, and only if nobody published since the editor's base version. Every worker and API process
runs a ``ConfigFollower``: it reads the pointer every ``poll_s`` and swaps in the new config, so the next lead is
decided under it without a restart. Decisions record the config's content hash (``Config.version``).
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import msgspec
import structlog
from redis.exceptions import WatchError

from adapters.crm import registry
from connector.config import Config
from connector.errors import LeadrelayError
from worker import outage
from worker.redis_server import redis_unavailable
from worker.store.keys import DEFAULT_PREFIX, Keys

log = structlog.get_logger("leadrelay.config")
Files = Mapping[str, str]


class ConfigVersion(msgspec.Struct, kw_only=True, frozen=True):
    """One published config."""

    number: int
    hash: str
    author: str
    at: float
    message: str = ""
    files: dict[str, str] = {}
    diff: str = ""
    restored_from: int | None = None


class Draft(msgspec.Struct, kw_only=True, frozen=True):
    """An admin's unpublished change, kept until published or dropped."""

    files: dict[str, str]
    author: str
    at: float
    base: int  # the version it was edited from: publishing refuses if another was published since


class PublishConflict(LeadrelayError):
    """Someone published since this draft's base version (the API answers 409)."""


def diff(before: Files, after: Files) -> str:
    """A unified diff of every file that changed, for the history and for code review."""
    out: list[str] = []
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key, ""), after.get(key, "")
        if a != b:
            out += difflib.unified_diff(a.splitlines(keepends=True), b.splitlines(keepends=True),
                                        fromfile=f"a/{key}", tofile=f"b/{key}")
    return "".join(line if line.endswith("\n") else line + "\n" for line in out)


_decode_version = msgspec.json.Decoder(ConfigVersion).decode
_decode_draft = msgspec.json.Decoder(Draft).decode


class ConfigStore:
    """The versions of one installation. ``build`` checks a bundle (raises ConfigError naming file:line and field)."""

    def __init__(self, redis: Any, prefix: str = DEFAULT_PREFIX, *,
                 build: Callable[[Files], Config] = registry.config_from_texts) -> None:
        self.r, self.keys, self.build = redis, Keys(prefix), build

    async def current_number(self) -> int:
        raw = await self.r.get(self.keys.config_current)
        return int(raw) if raw else 0

    async def get(self, number: int) -> ConfigVersion | None:
        raw = await self.r.get(self.keys.config_version(number))
        return _decode_version(raw) if raw else None

    async def current(self) -> ConfigVersion | None:
        number = await self.current_number()
        return await self.get(number) if number else None

    async def history(self, limit: int = 50) -> list[ConfigVersion]:
        """The newest ``limit`` versions, newest first, without their files."""
        numbers = await self.r.zrevrange(self.keys.config_log, 0, limit - 1)
        raws = await self.r.mget([self.keys.config_version(int(n)) for n in numbers]) if numbers else []
        return [msgspec.structs.replace(_decode_version(raw), files={}) for raw in raws if raw]

    async def seed(self, files: Files, *, author: str = "seeded from files") -> ConfigVersion:
        """Version 1 from the files on first start; the published version when there is one already."""
        current = await self.current()
        if current is not None:
            return current
        try:
            return await self.publish(files, author=author, message="first start: rules/ and mappings/", base=0)
        except PublishConflict:  # another process seeded first
            current = await self.current()
            assert current is not None
            return current

    async def publish(self, files: Files, *, author: str, message: str = "", base: int | None = None,
                      restored_from: int | None = None, config: Config | None = None) -> ConfigVersion:
        """Check the bundle, then make it the current version atomically. ``base``: refuse if it is not current.
        ``config``: the bundle built already (the admin API builds it off the event loop)."""
        config = config or self.build(files)  # a bad bundle raises here: nothing is written
        async with self.r.pipeline(transaction=True) as pipe:
            # the counter is watched and moved in the MULTI too: a publish that loses a race takes no number
            await pipe.watch(self.keys.config_current, self.keys.config_seq)
            raw, seq = await pipe.get(self.keys.config_current), await pipe.get(self.keys.config_seq)
            current = int(raw) if raw else 0
            if base is not None and base != current:
                raise PublishConflict(f"version {current} was published after the draft's base version {base}",
                                      hint="reload the current version, apply your change again, then publish")
            before = await self.get(current) if current else None
            number = int(seq or 0) + 1
            version = ConfigVersion(number=number, hash=config.version, author=author, at=time.time(),
                                    message=message, files=dict(files), restored_from=restored_from,
                                    diff=diff(before.files if before else {}, files))
            pipe.multi()
            pipe.set(self.keys.config_seq, number)
            pipe.set(self.keys.config_version(number), msgspec.json.encode(version))
            pipe.zadd(self.keys.config_log, {str(number): number})
            pipe.set(self.keys.config_current, number)
            try:
                await pipe.execute()
            except WatchError:
                raise PublishConflict("another version was published at the same moment",
                                      hint="reload the current version and publish again") from None
        log.info("config_published", number=number, hash=config.version, author=author, restored_from=restored_from)
        return version

    async def rollback(self, number: int, *, author: str, message: str = "") -> ConfigVersion:
        """Publish an earlier version's files again, as a new version (the history keeps every step)."""
        old = await self.get(number)
        if old is None:
            raise LookupError(f"no config version {number}")
        return await self.publish(old.files, author=author, message=message or f"roll back to version {number}",
                                  restored_from=number)

    async def save_draft(self, name: str, files: Files, *, author: str, base: int) -> Draft:
        """Keep a draft (not checked: a draft may be half done; ``build`` it to validate)."""
        draft = Draft(files=dict(files), author=author, at=time.time(), base=base)
        await self.r.set(self.keys.config_draft(name), msgspec.json.encode(draft))
        return draft

    async def draft(self, name: str) -> Draft | None:
        raw = await self.r.get(self.keys.config_draft(name))
        return _decode_draft(raw) if raw else None

    async def drop_draft(self, name: str) -> None:
        await self.r.delete(self.keys.config_draft(name))


class ConfigFollower:
    """Keeps one process on the published version: ``config`` is always the current one (checked every poll_s)."""

    def __init__(self, store: ConfigStore, config: Config, number: int, *, poll_s: float = 0.25,
                 on_change: Callable[[Config], Awaitable[None] | None] | None = None) -> None:
        self.store, self.config, self.number, self.poll_s = store, config, number, poll_s
        self.on_change = on_change
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def start(cls, store: ConfigStore, seed: Files, **kw: Any) -> ConfigFollower:
        """Seed the store from ``seed`` when it is empty, load the current version and follow it."""
        version = await store.seed(seed)
        return cls(store, store.build(version.files), version.number, **kw).follow()

    def follow(self) -> ConfigFollower:
        """Start looking for newer versions in the background."""
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self

    async def refresh(self) -> bool:
        """Swap in the published version if it changed; True when it did."""
        number = await self.store.current_number()
        if number == self.number or number == 0:
            return False
        version = await self.store.get(number)
        if version is None:
            return False
        config = self.store.build(version.files) if version.hash != self.config.version else self.config
        self.config, self.number = config, number
        if self.on_change is not None:
            result = self.on_change(config)
            if asyncio.iscoroutine(result):
                await result
        log.info("config_followed", number=number, hash=config.version)
        return True

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            try:
                await self.refresh()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away or a version that no longer builds: keep deciding on the last one
                if redis_unavailable(exc):
                    outage.REDIS.failed(exc, "config_follower")
                else:
                    log.warning("config_follow_failed", error=str(exc))
            else:
                outage.REDIS.answered()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
