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
# A secret this short is masked only where it stands alone (not inside a longer word or
# number): masking "k3y" inside "k3yboard" would garble text without hiding anything.
_SHORT: Final = 6
_secrets: set[str] = set()
_longest_first: tuple[str, ...] = ()  # _secrets, longest first: a secret inside another waits
_short: dict[str, re.Pattern[str]] = {}  # short secret -> its stand-alone pattern
_PATTERNS: Final = (
    re.compile(r"(?i)((?:token|apikey|api_key|key|sign)=)[^&\s\"']+"),
    re.compile(r"(?i)(\"(?:token|apikey|api_key|sign)\"\s*:\s*\")[^\"]*"),
    re.compile(r"(?i)((?:sign|userid|authorization)\s*:\s*)\S+"),
)


def register_secret(value: str | None) -> None:
    """Remember a secret, of any length, so that :func:`redact` masks it from now on."""
    if not value:
        return
    global _longest_first
    _secrets.add(value)
    _longest_first = tuple(sorted(_secrets, key=len, reverse=True))
    if len(value) < _SHORT:
        _short[value] = re.compile(rf"(?<![A-Za-z0-9]){re.escape(value)}(?![A-Za-z0-9])")


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
    # Longest first, so a secret that contains another is masked whole.
    for secret in _longest_first:
        if secret in text:
            short = _short.get(secret)
            text = text.replace(secret, MASK) if short is None else short.sub(MASK, text)
    return text
