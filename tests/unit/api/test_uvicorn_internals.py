"""The connection-level edge (``vecfleet/api/edge.py``) relies on uvicorn internals.

It subclasses ``HttpToolsProtocol`` and reads its fields; a uvicorn release may change
them without notice. pyproject pins uvicorn to the tested range; this test fails when the
installed uvicorn is outside it or lacks what the edge uses, so an upgrade is a decision
made with ``tests/unit/api/test_edge_protocol.py`` run again, never an accident.
"""

from __future__ import annotations

import inspect

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

TESTED = ((0, 55), (0, 56))  # [from, to)

# Every attribute of the protocol that edge.py calls, overrides or reads.
METHODS = (
    "on_headers_complete",
    "on_body",
    "on_message_complete",
    "on_response_complete",
    "_unset_keepalive_if_required",
)
FIELDS = ("cycle", "flow", "parser", "transport", "server_state", "headers", "url")


def version() -> tuple[int, int]:
    major, minor = uvicorn.__version__.split(".")[:2]
    return int(major), int(minor)


def test_installed_uvicorn_is_in_the_tested_range() -> None:
    low, high = TESTED
    assert low <= version() < high, (
        f"uvicorn {uvicorn.__version__} is outside the range the edge protocol was tested "
        f"with ({low} to {high}); run tests/unit/api/test_edge_protocol.py and widen both "
        "this range and the pin in pyproject.toml"
    )


def test_the_protocol_still_has_what_the_edge_uses() -> None:
    for name in METHODS:
        assert callable(getattr(HttpToolsProtocol, name, None)), name
    source = inspect.getsource(HttpToolsProtocol)
    for name in (*FIELDS, "expect_100_continue"):
        assert f"self.{name}" in source, name
