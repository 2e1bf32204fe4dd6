"""The one boundary where NATS exceptions become vecfleet errors (STYLE 8).

Callers wrap each NATS conversation in ``translating(what)``; ``what`` names the operation
so the message says what failed (``publishing to vf.docs.0``), and the class says what to
do: ``Unavailable`` (retry later; HTTP 503) when the server is down, unreachable, slow or
electing a leader; ``PayloadTooLarge`` when a record exceeds the server's max_payload;
``StorageError`` when JetStream refused the request itself. Errors a caller expects and
handles (a missing stream or message: ``nats.js.errors.NotFoundError``) are caught by the
caller inside the block, before they reach this mapping.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import nats.errors
import nats.js.errors

from vecfleet.errors import PayloadTooLarge, StorageError, Unavailable, VecfleetError

# The connection is gone, going, or not back yet: the operation may be retried as is.
_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    nats.errors.NoServersError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionDrainingError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.StaleConnectionError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.NoRespondersError,
    nats.js.errors.NoStreamResponseError,
    nats.js.errors.ServiceUnavailableError,
    ConnectionError,
)


def translate(exc: BaseException, what: str) -> VecfleetError:
    """The vecfleet error for a NATS failure during ``what``."""
    if isinstance(exc, VecfleetError):
        return exc
    if isinstance(exc, nats.errors.MaxPayloadError):
        return PayloadTooLarge(f"{what}: the record exceeds the NATS server's max_payload")
    if isinstance(exc, TimeoutError):  # asyncio.TimeoutError is TimeoutError since 3.11
        return Unavailable(
            f"{what}: NATS did not answer in time; the server may be down or restarting",
            operation=what,
        )
    if isinstance(exc, _CONNECTION_ERRORS):
        return Unavailable(
            f"{what}: NATS JetStream is unavailable ({type(exc).__name__}); retry later",
            operation=what,
        )
    if isinstance(exc, nats.js.errors.APIError):
        return StorageError(
            f"{what}: JetStream refused the request: {exc.description or exc} "
            f"(code {exc.code}, err_code {exc.err_code})",
            operation=what,
            nats_code=exc.code,
            nats_err_code=exc.err_code,
        )
    if isinstance(exc, nats.errors.Error):
        return Unavailable(f"{what}: NATS failed: {exc!r}", operation=what)
    return StorageError(f"{what}: unexpected failure: {exc!r}", operation=what)


@contextmanager
def translating(what: str) -> Iterator[None]:
    """Re-raise any NATS exception from the block as its vecfleet error."""
    try:
        yield
    except VecfleetError:
        raise
    except (nats.errors.Error, TimeoutError, ConnectionError) as exc:
        raise translate(exc, what) from exc
