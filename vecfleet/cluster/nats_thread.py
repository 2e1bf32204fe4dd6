"""One NATS connection on a private asyncio loop, for synchronous callers (STYLE 7).

The engine and the replica's follower are synchronous and run in plain threads; nats-py
is asyncio. ``NatsThread`` owns a daemon thread running an event loop with one
connection, and ``run(coro, timeout_s)`` executes a coroutine there and waits for it from
any other thread. Every replica of a node shares one ``NatsThread``: one TCP connection,
one loop, no loop per caller.

Nothing slow may run *on* the loop (it would starve every caller and the connection's
pings): records are applied in the caller's thread, only the NATS conversation runs here.

Reconnect policy, chosen for a server that is restarted or fails over:

* never give up (``max_reconnect_attempts=-1``): a node outlives any NATS outage;
* retry every ``reconnect_wait_s`` (0.25 s), so a restarted server is found within a
  fraction of a second instead of nats-py's default 2 s;
* ping every ``ping_interval_s`` (5 s) with 2 outstanding pings allowed, so a silent
  half-open connection (a partition, not a crash) is noticed within about 10 s;
* while disconnected, callers fail in bounded time: ``run`` cancels at its timeout and
  raises ``Unavailable``; ``ShardLogWriter`` does not even queue a publish while the
  connection is down (see there).

The initial connection is bounded by ``connect_timeout_s``: ``start`` raises
``Unavailable`` when no server answers by then.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, TypeVar

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext

from vecfleet.cluster.nats_errors import translate
from vecfleet.errors import Unavailable

log = logging.getLogger(__name__)
T = TypeVar("T")


class NatsThread:
    """A NATS connection served by a background event loop.

    Lifecycle::

        created ──start()──▶ connected ⇄ reconnecting ──close()──▶ closed
                   │ no server within connect_timeout_s
                   └──────▶ Unavailable raised, thread stopped
    """

    def __init__(
        self,
        servers: str | list[str],
        *,
        name: str = "vecfleet",
        connect_timeout_s: float = 5.0,
        request_timeout_s: float = 5.0,
        reconnect_wait_s: float = 0.25,
        ping_interval_s: float = 5.0,
    ) -> None:
        self.servers = [servers] if isinstance(servers, str) else list(servers)
        self.name = name
        self.connect_timeout_s = connect_timeout_s
        self.request_timeout_s = request_timeout_s
        self.reconnect_wait_s = reconnect_wait_s
        self.ping_interval_s = ping_interval_s
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name=f"nats-{name}", daemon=True)
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._closed = False
        self._closing = False
        self.disconnects = 0
        self.reconnects = 0

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> NatsThread:
        """Start the loop and connect; raises ``Unavailable`` if no server answers in time."""
        self._thread.start()
        try:
            self._nc = self.run(self._connect(), self.connect_timeout_s, "connecting to NATS")
        except BaseException:
            self._stop_loop()
            raise
        self._js = self._nc.jetstream(timeout=self.request_timeout_s)
        return self

    async def _connect(self) -> Client:
        return await nats.connect(
            self.servers,
            name=self.name,
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=self.reconnect_wait_s,
            connect_timeout=min(self.connect_timeout_s, 2.0),
            ping_interval=self.ping_interval_s,
            max_outstanding_pings=2,
            error_cb=self._on_error,
            disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_reconnected,
        )

    async def _on_error(self, exc: Exception) -> None:
        # nats-py reports every failed reconnect attempt here; one line each, no traceback.
        log.debug("NATS connection %s: %r", self.name, exc)

    async def _on_disconnected(self) -> None:
        if self._closing:
            return
        self.disconnects += 1
        log.warning("NATS connection %s lost; reconnecting", self.name)

    async def _on_reconnected(self) -> None:
        self.reconnects += 1
        log.info("NATS connection %s re-established", self.name)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def close(self) -> None:
        """Close the connection (flushing what it can) and stop the loop; idempotent."""
        if self._closed:
            return
        self._closing = True
        if self._nc is not None and self._thread.is_alive():
            try:
                self.run(self._nc.close(), 5.0, "closing the NATS connection")
            except Exception as exc:  # closing must not fail the caller's shutdown
                log.warning("closing NATS connection %s: %s", self.name, exc)
        self._closed = True
        self._stop_loop()

    def _stop_loop(self) -> None:
        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
            self._thread.join(timeout=10)
        if not self._loop.is_running() and not self._loop.is_closed():
            self._loop.close()

    async def _shutdown(self) -> None:
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._loop.shutdown_default_executor()
        self._loop.stop()

    def __enter__(self) -> NatsThread:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ use
    @property
    def nc(self) -> Client:
        if self._nc is None:
            raise Unavailable("the NATS connection is not started")
        return self._nc

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            raise Unavailable("the NATS connection is not started")
        return self._js

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float | None, what: str = "") -> T:
        """Run ``coro`` on the connection's loop and return its result.

        Waits at most ``timeout_s`` (``None``: no limit); on timeout the coroutine is
        cancelled and ``Unavailable`` raised. Exceptions from the coroutine propagate
        unchanged, so callers can tell a missing message from an outage.
        """
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("NatsThread.run called from its own loop: await instead")
        if self._closed:
            coro.close()
            raise Unavailable(f"{what or 'NATS call'}: the NATS connection is closed")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout_s)
        except concurrent.futures.TimeoutError as exc:
            if future.done():  # the coroutine's own timeout (the same class since 3.11)
                return future.result()
            future.cancel()
            raise translate(TimeoutError(), what or "NATS call") from exc
