"""The one error → HTTP status table, and the remote client's inverse of it.

Round trips go through the real pieces: an error raised inside a route is rendered by the
app's error handler, carried as an HTTP response, and turned back into an exception by
``RemoteDatabase``.
"""

from __future__ import annotations

import socket

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from vecfleet.api.app import vecfleet_error
from vecfleet.api.errors import HTTP_STATUS, headers_for, status_for
from vecfleet.errors import (
    ALL_ERRORS,
    AlreadyExists,
    CollectionExists,
    CollectionNotFound,
    CorruptData,
    DeadlineExceeded,
    FilterError,
    MalformedRequest,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ReplicaBehind,
    ShardNotHosted,
    StorageError,
    Unavailable,
    ValidationError,
    VecfleetError,
)
from vecfleet.remote import ERROR_CLASSES, RemoteDatabase, error_from_wire

SAMPLES: dict[type[VecfleetError], VecfleetError] = {
    VecfleetError: VecfleetError("something broke"),
    ValidationError: ValidationError("vector must have 4 numbers", field="vector", row=2),
    FilterError: FilterError("unknown operator '$near'", "$.severity.$near"),
    MalformedRequest: MalformedRequest("request body is not valid JSON"),
    NotFound: NotFound("vector 'x' does not exist", id="x"),
    CollectionNotFound: CollectionNotFound("incidents"),
    ShardNotHosted: ShardNotHosted("incidents", 3, "node-b"),
    ReplicaBehind: ReplicaBehind("replica is behind", applied_seq=4, min_seq=9),
    DeadlineExceeded: DeadlineExceeded("node did not answer in time", node_id="node-b"),
    AlreadyExists: AlreadyExists("snapshot 7 already exists"),
    CollectionExists: CollectionExists("incidents"),
    PayloadTooLarge: PayloadTooLarge("body too large", limit_bytes=1024),
    Unavailable: Unavailable("the embedding model is down"),
    RateLimited: RateLimited("too many requests for this key", retry_after_s=2.6),
    StorageError: StorageError("the log refused a write"),
    CorruptData: CorruptData("segment 3 fails its CRC"),
}


def raising_app() -> Starlette:
    """GET /raise/{code} raises the sample error with that code."""
    by_code = {exc.code: exc for exc in SAMPLES.values()}

    async def boom(request: Request) -> Response:
        raise by_code[request.path_params["code"]]

    return Starlette(
        routes=[Route("/raise/{code}", boom)], exception_handlers={VecfleetError: vecfleet_error}
    )


@pytest.fixture(scope="module")
def remote() -> RemoteDatabase:
    """A remote client whose transport is the app above, through a real HTTP response."""
    server = TestClient(raising_app())

    def handle(request: httpx.Request) -> httpx.Response:
        answer = server.request(request.method, request.url.path)
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    return RemoteDatabase("http://vecfleet.test", transport=httpx.MockTransport(handle))


def test_every_error_class_has_a_status() -> None:
    assert set(ALL_ERRORS) <= set(HTTP_STATUS)
    assert set(HTTP_STATUS) <= set(ALL_ERRORS)


def test_samples_cover_every_error_class() -> None:
    assert set(SAMPLES) == set(ALL_ERRORS)
    assert all(type(exc) is cls for cls, exc in SAMPLES.items())


def test_codes_are_unique_so_the_table_inverts() -> None:
    codes = [cls.code for cls in ALL_ERRORS]
    assert len(codes) == len(set(codes))
    assert all(ERROR_CLASSES[cls.code] is cls for cls in ALL_ERRORS)


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (ValidationError("x"), 422),
        (FilterError("x", "$.a"), 422),
        (MalformedRequest("x"), 400),
        (CollectionNotFound("c"), 404),
        (NotFound("x"), 404),
        (CollectionExists("c"), 409),
        (PayloadTooLarge("x"), 413),
        (RateLimited("x", 1.0), 429),
        (Unavailable("x"), 503),
        (StorageError("x"), 503),
        (CorruptData("x"), 500),
        (VecfleetError("x"), 500),
    ],
)
def test_status_for(exc: VecfleetError, status: int) -> None:
    assert status_for(exc) == status


def test_subclass_without_an_entry_gets_its_parents_status() -> None:
    class OddFilter(FilterError):
        code = "odd_filter"

    assert status_for(OddFilter("x", "$")) == 422


def test_rate_limited_is_429_with_retry_after() -> None:
    assert headers_for(RateLimited("slow down", retry_after_s=2.6)) == {"Retry-After": "3"}
    assert headers_for(RateLimited("slow down", retry_after_s=0.01)) == {"Retry-After": "1"}
    assert headers_for(ValidationError("x")) == {}
    response = TestClient(raising_app()).get("/raise/rate_limited")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert response.json()["error"]["code"] == "rate_limited"


@pytest.mark.parametrize("cls", ALL_ERRORS, ids=lambda cls: cls.code)
def test_remote_client_rebuilds_every_error(
    remote: RemoteDatabase, cls: type[VecfleetError]
) -> None:
    sent = SAMPLES[cls]
    with pytest.raises(VecfleetError) as info:
        remote.request("GET", f"/raise/{cls.code}")
    got = info.value
    assert type(got) is cls
    assert got.code == sent.code
    assert got.message == sent.message
    assert str(got) == str(sent)
    assert got.details == sent.details


def test_remote_client_keeps_structured_fields(remote: RemoteDatabase) -> None:
    with pytest.raises(CollectionNotFound) as missing:
        remote.request("GET", "/raise/collection_not_found")
    assert missing.value.name == "incidents"
    with pytest.raises(FilterError) as bad_filter:
        remote.request("GET", "/raise/invalid_filter")
    assert bad_filter.value.path == "$.severity.$near"
    with pytest.raises(RateLimited) as limited:
        remote.request("GET", "/raise/rate_limited")
    assert limited.value.retry_after_s == pytest.approx(2.6)


def test_unknown_code_becomes_the_base_class() -> None:
    exc = error_from_wire("brand_new_code", "a newer server said no", {"k": 1})
    assert type(exc) is VecfleetError
    assert exc.message == "a newer server said no"
    assert exc.details == {"k": 1}


@pytest.mark.parametrize(
    ("status", "cls"),
    [(502, Unavailable), (503, Unavailable), (429, RateLimited), (500, VecfleetError)],
)
def test_responses_without_an_envelope(status: int, cls: type[VecfleetError]) -> None:
    transport = httpx.MockTransport(
        lambda request: httpx.Response(status, text="<html>bad gateway</html>")
    )
    with (
        RemoteDatabase("http://proxy.test", transport=transport) as db,
        pytest.raises(VecfleetError) as info,
    ):
        db.list_collections()
    assert type(info.value) is cls
    assert str(status) in info.value.message


def test_connection_refused_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        with (
            RemoteDatabase(f"http://127.0.0.1:{port}", timeout_s=2) as db,
            pytest.raises(Unavailable, match="cannot reach") as info,
        ):
            db.list_collections()
    assert isinstance(info.value.__cause__, httpx.TransportError)
