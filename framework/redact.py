"""Redaction of secrets from any text that leaves the process: logs, errors, recordings.

Two nets, both always on:
1. every value registered with :func:`register_secret` (API keys read from the environment or
   the config, Cryptomus one-time tokens) is replaced wherever it appears;
2. the places providers put secrets are masked by pattern, even for values never registered:
   ``token=`` / ``apikey=`` in URLs, ``"token": "..."`` in JSON, ``sign`` headers.

This module must stay dependency-free: errors.py imports it.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["MASK", "redact", "redact_secrets", "register_secret"]

MASK: Final = "***"
# Every occurrence of a registered secret is masked, whatever its length and wherever it
# stands (inside a longer word too): a frame is masked before the live loop decodes it, so a
# replay of the recording still sees exactly what the live run saw.
_secrets: set[str] = set()
_ordered: list[str] = []  # longest first, so a secret that contains another is masked whole
_PATTERNS: Final = (
    re.compile(r"(?i)((?:token|apikey|api_key|key|sign)=)[^&\s\"']+"),
    re.compile(r"(?i)(\"(?:token|apikey|api_key|sign)\"\s*:\s*\")[^\"]*"),
    re.compile(r"(?i)((?:sign|userid|authorization)\s*:\s*)\S+"),
)


def register_secret(value: str | None) -> None:
    """Remember a secret, of any length, so that :func:`redact` masks it from now on."""
    if not value:
        return
    if value in _secrets:
        return
    _secrets.add(value)
    _ordered[:] = sorted(_secrets, key=lambda s: (-len(s), s))


def redact(text: str) -> str:
    """Return ``text`` with registered secrets and secret-bearing parameters masked."""
    text = redact_secrets(text)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text


def redact_secrets(text: str) -> str:
    """Return ``text`` with every registered secret masked (``text`` itself if none occurs).

    Only the registered values, not the patterns: a recording keeps a provider's frames as
    sent except for the secrets in them.
    """
    for secret in _ordered:
        if secret in text:
            text = text.replace(secret, MASK)
    return text
