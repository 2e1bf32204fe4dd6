"""Embeddings from an OpenAI-compatible HTTP service (``POST /v1/embeddings``).

For production models such as 1536-d ``text-embedding-3-small``, served by OpenAI or any
server that speaks the same API (vLLM, text-embeddings-inference, LiteLLM, Ollama).
Every failure is translated here, once, into vecfleet's errors:

| what happened                                  | raised            |
|------------------------------------------------|-------------------|
| 400, 413, 422: the service refused the input   | ``ValidationError`` |
| 401, 403: key refused; 404: wrong URL or model | ``Unavailable``   |
| 429, 5xx, timeout, connection failure          | ``Unavailable``   |
| a reply that is not the documented shape/width | ``Unavailable``   |

Retries are the caller's business (the gateway has a retry budget), so none happen here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np

from vecfleet.embed.base import check_texts, empty_matrix, l2_normalise
from vecfleet.errors import Unavailable, ValidationError
from vecfleet.types import Matrix

_INPUT_REFUSED = frozenset({400, 413, 422})


def embeddings_url(base_url: str) -> str:
    """Accept ``https://host`` as well as the SDK-style ``https://host/v1``."""
    base = base_url.rstrip("/")
    return f"{base}/embeddings" if base.endswith("/v1") else f"{base}/v1/embeddings"


class OpenAIEmbedder:
    """Synchronous client of one model on one OpenAI-compatible service.

    ``dim`` is what the model returns; with ``request_dimensions`` it is also sent as
    ``dimensions`` so models that support shortening (text-embedding-3-*) return it.
    Long lists are sent ``max_inputs`` texts per request.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        dim: int = 1536,
        timeout_s: float = 30.0,
        *,
        max_inputs: int = 256,
        request_dimensions: bool = False,
    ) -> None:
        if dim < 1 or max_inputs < 1 or timeout_s <= 0:
            raise ValidationError(
                "dim and max_inputs must be >= 1 and timeout_s > 0",
                dim=dim,
                max_inputs=max_inputs,
                timeout_s=timeout_s,
            )
        self.url = embeddings_url(base_url)
        self.model = model
        self.max_inputs = max_inputs
        self.request_dimensions = request_dimensions
        self._dim = dim
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(timeout=timeout_s, headers=headers)

    @property
    def model_id(self) -> str:
        return f"{self.model}@{self._dim}" if self.request_dimensions else self.model

    @property
    def dim(self) -> int:
        return self._dim

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIEmbedder(url={self.url!r}, model={self.model!r}, dim={self._dim})"

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> OpenAIEmbedder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def embed(self, texts: Sequence[str]) -> Matrix:
        checked = check_texts(texts)
        if not checked:
            return empty_matrix(self._dim)
        chunks = [
            self._embed_chunk(checked[i : i + self.max_inputs])
            for i in range(0, len(checked), self.max_inputs)
        ]
        return l2_normalise(np.concatenate(chunks))

    def _embed_chunk(self, texts: list[str]) -> Matrix:
        body: dict[str, Any] = {"model": self.model, "input": texts, "encoding_format": "float"}
        if self.request_dimensions:
            body["dimensions"] = self._dim
        try:
            response = self._client.post(self.url, json=body)
        except httpx.TimeoutException as exc:
            raise Unavailable(f"embedding service timed out at {self.url}", url=self.url) from exc
        except httpx.HTTPError as exc:
            raise Unavailable(
                f"embedding service unreachable at {self.url}: {exc}", url=self.url
            ) from exc
        if response.status_code != 200:
            raise self._status_error(response)
        return self._parse(response, len(texts))

    def _status_error(self, response: httpx.Response) -> Exception:
        status = response.status_code
        detail = _server_message(response)
        if status in _INPUT_REFUSED:
            return ValidationError(
                f"embedding service refused the input ({status}): {detail}", status=status
            )
        hint = {
            401: "check the API key",
            403: "check the API key's permissions",
            404: f"check the base URL and that model {self.model!r} exists",
            429: "the service is rate limiting; retry later",
        }.get(status, "retry later")
        details: dict[str, Any] = {"status": status, "url": self.url}
        if "retry-after" in response.headers:
            details["retry_after"] = response.headers["retry-after"]
        return Unavailable(f"embedding service answered {status} ({hint}): {detail}", **details)

    def _parse(self, response: httpx.Response, n: int) -> Matrix:
        try:
            items = sorted(response.json()["data"], key=lambda item: item["index"])
            matrix = np.array([item["embedding"] for item in items], dtype=np.float32)
        except (ValueError, KeyError, TypeError) as exc:
            raise Unavailable(
                f"embedding service at {self.url} sent a reply that is not an embeddings list"
            ) from exc
        if matrix.shape != (n, self._dim):
            raise Unavailable(
                f"embedding service returned shape {matrix.shape} for {n} texts; expected "
                f"({n}, {self._dim}): set dim to the model's width",
                shape=list(matrix.shape),
            )
        if not np.isfinite(matrix).all():
            raise Unavailable(f"embedding service at {self.url} returned NaN or Inf")
        return matrix


def _server_message(response: httpx.Response) -> str:
    """The service's own error message if it sent the usual JSON, else the raw text."""
    try:
        payload = response.json()
        message = payload.get("error", {}).get("message") or payload.get("detail")
        if message:
            return str(message)[:500]
    except (ValueError, AttributeError):
        pass
    return response.text[:500] or response.reason_phrase
