"""Request bounds the gateway enforces for every edge, and the text check they share."""

from __future__ import annotations

from typing import Any

from vecfleet.errors import PayloadTooLarge, ValidationError

MAX_TEXT_CHARS = 20_000
MAX_POINTS_PER_WRITE = 10_000
MAX_BATCH_SEARCHES = 256


def check_text(text: Any, where: str, field_name: str) -> str:
    """``text`` if it is a non-empty string within ``MAX_TEXT_CHARS``; ``where`` names it."""
    if not isinstance(text, str) or not text.strip():
        raise ValidationError(f"{where} must be a non-empty string", field=field_name)
    if len(text) > MAX_TEXT_CHARS:
        raise PayloadTooLarge(
            f"{where} has {len(text)} characters; the limit is {MAX_TEXT_CHARS}",
            field=field_name,
        )
    return text
