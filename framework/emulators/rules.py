"""The rules the emulators enforce, each with where it comes from, and the ``--strict`` switch.

Every rule an emulator enforces is a :class:`Rule` in its module's ``RULES``: *documented*
(the source names a provider page in ``shared/seeds/`` or a section of ``protocols.md``, the
digest of the providers' documentation) or *assumed* (our choice where the documentation is
silent). The README's ``serve`` section is the table :func:`markdown_table` makes of them, and a
test keeps the two equal.

Some rules would refuse what a provider's own code sample does: AllTick's Go sample sends two
requests in the same millisecond, its PHP sample keeps the connection alive with WebSocket ping
frames instead of the JSON heartbeat, and every sample connects with the page's placeholder
credential. Such a rule has a ``lenient`` text: by default the emulator does that instead and
counts it (:class:`Leniency`), and with ``strict`` it enforces the rule. The project's own
clients follow the strict rules, and the tests of them run the emulators strict.

Pure data and counting; no I/O apart from one log line per waived rule.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from typing import Final

import msgspec

__all__ = ["Leniency", "Rule", "markdown_table"]

_LOG: Final = logging.getLogger("papertrade.emulators")


class Rule(msgspec.Struct, frozen=True, kw_only=True):
    """One rule of one emulator.

    Attributes:
        name: a short id, unique within the provider (``"request spacing"``).
        enforces: what the emulator does, in a sentence.
        source: where the rule comes from: a seed page or a ``protocols.md`` section.
        documented: True when the source states the rule; False when it is our assumption.
        lenient: for a rule a provider's own sample breaks: what the emulator does instead
            unless strict; "" for a rule always enforced.
    """

    name: str
    enforces: str
    source: str
    documented: bool
    lenient: str = ""


class Leniency:
    """Whether an emulator waives its lenient rules, and how often it did.

    Args:
        provider: the emulator's name, for the log line.
        strict: enforce every rule, waive none.
    """

    def __init__(self, provider: str, *, strict: bool) -> None:
        self.provider = provider
        self.strict = strict
        self.waived: Counter[str] = Counter()  # rule name -> times waived

    def waive(self, rule: Rule, where: str) -> bool:
        """True (and counted) when ``rule`` is waived: not strict and the rule allows it.

        ``where`` names the connection in the log line (``"#3"``, ``"handshake"``).
        """
        if self.strict or not rule.lenient:
            return False
        self.waived[rule.name] += 1
        _LOG.info("%s %s broke %r (accepted; --strict refuses it)", self.provider, where, rule.name)
        return True


def markdown_table(rules: Iterable[tuple[str, Rule]]) -> str:
    """The README's table of ``(provider, rule)`` pairs, one line per rule."""
    lines = [
        "| emulator | rule | what it does | source | without `--strict` |",
        "| --- | --- | --- | --- | --- |",
    ]
    for provider, rule in rules:
        kind = "documented" if rule.documented else "assumed"
        lines.append(
            f"| {provider} | {rule.name} | {rule.enforces} | {kind}: {rule.source} "
            f"| {rule.lenient or 'same'} |"
        )
    return "\n".join(lines) + "\n"
