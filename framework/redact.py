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

__all__ = ["MASK", "redact", "register_secret"]

MASK: Final = "***"
_MIN_SECRET_LEN: Final = 6
_secrets: set[str] = set()
_PATTERNS: Final = (
    re.compile(r"(?i)((?:token|apikey|api_key|key|sign)=)[^&\s\"']+"),
    re.compile(r"(?i)(\"(?:token|apikey|api_key|sign)\"\s*:\s*\")[^\"]*"),
    re.compile(r"(?i)((?:sign|userid|authorization)\s*:\s*)\S+"),
)


def register_secret(value: str | None) -> None:
    """Remember a secret so that :func:`redact` masks it everywhere from now on.

    Values shorter than six characters are ignored: masking them would garble ordinary text.
    """
    if value and len(value) >= _MIN_SECRET_LEN:
        _secrets.add(value)


def redact(text: str) -> str:
    """Return ``text`` with registered secrets and secret-bearing parameters masked."""
    # Longest first, so a secret that contains another is masked whole.
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text
