"""Result-cache keys: pure functions of everything that can change a search's answer.

A key covers the caller's scope (tenant header and a hash of the credentials), the
collection, the collection's data epoch, the query (float32 bytes of a vector, or the
embedding model with the normalised text), the canonical filter text, the page (limit,
offset, score threshold), the search parameters and the shape of the hits (payloads,
vectors). Two requests share an
entry only when every one of these agrees, so one tenant never reads another's entry,
and a write, which raises the epoch, makes every older entry of the collection
unreachable at once.

The parts are serialised unambiguously (msgpack of a tuple, led by ``KEY_VERSION``) and
hashed with BLAKE2b-128; the key is ``"<namespace>:s:<32 hex digits>"``.

One rule for every tier, the HTTP edge's included: a key is (caller scope, collection,
data epoch, the query). The pipeline's tiers name the query by its canonical identity
(``search_key``); the edge, which answers before any decoding, by the request's bytes
(``request_key``), so byte-different but equal searches meet one tier lower. The scope is
computed once per request by the gateway (``Gateway.caller_scope``), never read from a
raw header here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import msgspec

from vecfleet.models import DEFAULT_SEARCH, SearchOptions

KEY_VERSION = 2
PUBLIC_SCOPE = "public"
_encode = msgspec.msgpack.Encoder().encode


def scope_of(tenant: str | None, authorization: str | None) -> str:
    """The cache scope of a caller: its tenant and a hash of its credentials, or public.

    The credentials are hashed so that neither a key nor a log line ever carries them.
    """
    parts = []
    if tenant:
        parts.append(f"tenant={tenant}")
    if authorization:
        digest = hashlib.sha256(authorization.encode("utf-8", "surrogatepass")).hexdigest()
        parts.append(f"auth={digest[:32]}")
    return ";".join(parts) or PUBLIC_SCOPE


@dataclass(frozen=True, slots=True)
class SearchIdentity:
    """What a search asks, in canonical form (see ``search_key``).

    ``options`` are the request's ``SearchOptions`` with the filter and params taken out
    (they enter canonically, as ``filter``, ``ef`` and ``exact``): every other option is
    part of the key as it is, so a new option needs no change here.
    """

    collection: str
    vector: bytes | None  # float32 little-endian bytes of the query vector
    model: str | None  # embedding model id, for a text query
    text: str | None  # normalised text, for a text query
    filter: str  # canonical filter text; "{}" matches everything
    ef: int | None
    exact: bool
    options: SearchOptions = DEFAULT_SEARCH

    @classmethod
    def shape_of(cls, options: SearchOptions) -> SearchOptions:
        """``options`` without the parts that enter the key canonically."""
        return msgspec.structs.replace(options, filter=None, params=None)


def search_key(identity: SearchIdentity, scope: str, epoch: int, namespace: str = "vf") -> str:
    """The cache key of ``identity`` asked by ``scope`` at data ``epoch``."""
    i = identity
    raw = _encode(
        (
            KEY_VERSION,
            scope,
            i.collection,
            epoch,
            i.vector,
            i.model,
            i.text,
            i.filter,
            i.ef,
            i.exact,
            i.options,
        )
    )
    return f"{namespace}:s:{hashlib.blake2b(raw, digest_size=16).hexdigest()}"


def request_key(scope: str, collection: str, epoch: int, body: bytes) -> bytes:
    """The edge's key of a search request: the same parts, with the query as its bytes.

    The bytes themselves, not a digest: the edge's dict hashes them (SipHash, ~4× faster
    than a BLAKE2 digest of an 8 KB body) and a hit compares them whole, so two requests
    never share an entry by collision. NUL-separated: a scope or a collection name holds no
    NUL (names are checked, scopes are built by ``scope_of``).
    """
    return b"%s\0%s\0%d\0%s" % (scope.encode(), collection.encode(), epoch, body)


def etag_of(key: str) -> str:
    """A strong HTTP entity tag for the answer stored under ``key``."""
    return f'"{key.rsplit(":", 1)[-1]}"'
