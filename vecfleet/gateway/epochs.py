"""Data epochs: per collection, the sequence number of the newest write a gateway knows.

The epoch is part of every result-cache key (``cache/keys.py``), so raising it makes the
collection's older entries unreachable at once, in every tier. Epochs are write
sequence numbers from the log, not local counters: they are ordered across gateways, so
keeping the maximum of what was heard is always right, whatever order messages arrive in,
and two gateways that know the same writes build the same keys and share L2/L3 entries.

A gateway raises the epoch itself when it writes, before it acknowledges, and tells the
others through an ``EpochBus``:

* ``LocalEpochBus`` (embedded mode, and the fake for tests): gateways in one process.
* ``RedisEpochBus`` (several gateways): a Lua script raises the epoch in a Redis hash and
  publishes it on a channel in one round trip; each gateway subscribes, and on every
  (re)connection reads the whole hash after subscribing, so nothing published while it
  was away is missed. Until that first read, and whenever the subscription is down, the
  bus is not ``synced`` and the pipeline leaves the cache alone: a gateway that cannot
  hear about writes must not serve from shared entries. Epochs that could not be
  published are kept and published on reconnection.

Delivery to another gateway takes one pub/sub hop (well under a millisecond on a LAN);
a client that needs to read its own write through another gateway within that window
should send ``"cache": "bypass"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Protocol

import redis.asyncio as aioredis

log = logging.getLogger(__name__)

Listener = Callable[[str, int], None]

# KEYS[1] hash of epochs, KEYS[2] channel; ARGV[1] collection, ARGV[2] epoch.
_RAISE_AND_PUBLISH = """
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '-1')
if tonumber(ARGV[2]) > current then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
end
return redis.call('PUBLISH', KEYS[2], ARGV[2] .. ':' .. ARGV[1])
"""


class EpochBus(Protocol):
    """Carries ``(collection, epoch)`` between gateways."""

    @property
    def synced(self) -> bool:
        """Whether this gateway is known to hear every epoch published."""
        ...

    async def start(self, listener: Listener) -> None: ...

    async def publish(self, collection: str, epoch: int) -> None:
        """Tell the other gateways; never raises (an unsent epoch is retried later)."""
        ...

    async def aclose(self) -> None: ...


class Epochs:
    """The epoch table of one gateway, fed by its own writes and by its bus."""

    def __init__(self, bus: EpochBus | None = None) -> None:
        self.bus: EpochBus = bus if bus is not None else LocalEpochBus()
        self._epochs: dict[str, int] = {}
        self.raised = 0  # times an epoch went up (plain counter for obs)

    @property
    def synced(self) -> bool:
        return self.bus.synced

    def current(self, collection: str) -> int:
        return self._epochs.get(collection, 0)

    def of(self, collection: str, applied_seq: int) -> int:
        """The epoch cache keys use: the newest of what the bus told and what the data
        side applied (which covers writes that reached it without this gateway)."""
        return max(self._epochs.get(collection, 0), applied_seq)

    def advance(self, collection: str, epoch: int) -> None:
        """Raise ``collection``'s epoch to ``epoch`` if that is higher."""
        if epoch > self._epochs.get(collection, 0):
            self._epochs[collection] = epoch
            self.raised += 1

    async def note_write(self, collection: str, epoch: int) -> None:
        """A write at ``epoch`` was acknowledged by this gateway: raise it, tell the rest."""
        self.advance(collection, epoch)
        await self.bus.publish(collection, epoch)

    async def start(self) -> None:
        await self.bus.start(self.advance)

    async def aclose(self) -> None:
        await self.bus.aclose()


class LocalEpochBus:
    """``EpochBus`` between the gateways of one process: a list of listeners."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    @property
    def synced(self) -> bool:
        return True

    async def start(self, listener: Listener) -> None:
        self._listeners.append(listener)

    async def publish(self, collection: str, epoch: int) -> None:
        for listener in self._listeners:
            listener(collection, epoch)

    async def aclose(self) -> None:
        self._listeners.clear()


class RedisEpochBus:
    """``EpochBus`` over Redis pub/sub plus a hash that keeps the newest epoch of each
    collection (``<prefix>:epochs``, also the channel name)."""

    def __init__(
        self,
        client: aioredis.Redis,
        prefix: str = "vf",
        timeout_s: float = 0.05,
        reconnect_max_s: float = 1.0,
    ) -> None:
        self.client = client
        self.name = f"{prefix}:epochs"
        self.timeout_s = timeout_s
        self.reconnect_max_s = reconnect_max_s
        self.reconnects = 0  # plain counter for obs
        self._synced = False
        self._listener: Listener | None = None
        self._unsent: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def synced(self) -> bool:
        return self._synced

    async def start(self, listener: Listener) -> None:
        self._listener = listener
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    async def publish(self, collection: str, epoch: int) -> None:
        self._unsent[collection] = max(epoch, self._unsent.get(collection, 0))
        await self._send_unsent()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._synced = False
        await self.client.aclose()
        await self.client.connection_pool.disconnect()

    async def _send_unsent(self) -> bool:
        try:
            async with asyncio.timeout(self.timeout_s):
                for collection, epoch in list(self._unsent.items()):
                    await self.client.eval(
                        _RAISE_AND_PUBLISH, 2, self.name, self.name, collection, epoch
                    )
                    if self._unsent.get(collection) == epoch:
                        del self._unsent[collection]
        except Exception as exc:
            log.debug("epoch bus: publish failed, kept for later: %r", exc)
            return False
        return True

    def _deliver(self, collection: str, epoch: int) -> None:
        if self._listener is not None:
            self._listener(collection, epoch)

    async def _run(self) -> None:
        delay_s = 0.02
        while True:
            pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.name)
                await self._send_unsent()
                # Read after subscribing: whatever is published from now on arrives too.
                for collection, epoch in (await self.client.hgetall(self.name)).items():
                    self._deliver(_text(collection), int(epoch))
                self._synced = True
                delay_s = 0.02
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None:
                        epoch, _, collection = _text(message["data"]).partition(":")
                        self._deliver(collection, int(epoch))
                    if self._unsent:
                        await self._send_unsent()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._synced:
                    log.warning("epoch bus lost its subscription (%r); reconnecting", exc)
                self._synced = False
                self.reconnects += 1
            finally:
                self._synced = False
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(delay_s)
            delay_s = min(delay_s * 2, self.reconnect_max_s)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
