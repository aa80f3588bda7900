"""Lookup indexes for the selective filters: email, externalId and search words."""

from __future__ import annotations

import re
from collections.abc import Callable

from airflow_provider_dub.testing.data import Details

_WORD = re.compile(r"[^\W_]+")
_SEARCH_OPERATORS = re.compile(r"[*+\-()~@%<>!=?:]")


def words_of(text: str | None) -> set[str]:
    """The lower-cased alphanumeric words of ``text`` (split on anything else)."""
    return set(_WORD.findall(text.lower())) if text else set()


def search_words(search: str) -> set[str]:
    """The words of a ``search`` value once MySQL's boolean operators are stripped."""
    return words_of(_SEARCH_OPERATORS.sub("", search))


# An index maps a key to one slot (the common, compact case) or to a set of slots.
Index = dict[str, "int | set[int]"]


class TextIndex:
    """Slots by exact email, by exact externalId and by each word of name and email."""

    def __init__(self) -> None:
        self.by_email: Index = {}
        self.by_external_id: Index = {}
        self.by_word: Index = {}

    def add(self, slot: int, details: Details) -> None:
        """Index ``slot`` under its current details."""
        self._update(slot, details, _add)

    def remove(self, slot: int, details: Details) -> None:
        """Remove ``slot``, which was indexed under ``details``."""
        self._update(slot, details, _discard)

    def _update(self, slot: int, details: Details, change: Callable[[Index, str, int], None]) -> None:
        if details.email is not None:
            change(self.by_email, details.email, slot)
        change(self.by_external_id, details.external_id, slot)
        for word in words_of(details.name) | words_of(details.email):
            change(self.by_word, word, slot)

    def email(self, email: str) -> set[int]:
        """Slots whose email is exactly ``email``."""
        return _get(self.by_email, email)

    def external_id(self, external_id: str) -> set[int]:
        """Slots whose externalId is exactly ``external_id``."""
        return _get(self.by_external_id, external_id)

    def search(self, search: str) -> set[int]:
        """Dub's ``search``: exact email with an ``@``, else any whole word of name/email."""
        if "@" in search:
            return self.email(search)
        found: set[int] = set()
        for word in search_words(search):
            found |= _get(self.by_word, word)
        return found


def _get(index: Index, key: str) -> set[int]:
    slots = index.get(key)
    if slots is None:
        return set()
    return {slots} if isinstance(slots, int) else set(slots)


def _add(index: Index, key: str, slot: int) -> None:
    slots = index.get(key)
    if slots is None:
        index[key] = slot
    elif isinstance(slots, int):
        if slots != slot:
            index[key] = {slots, slot}
    else:
        slots.add(slot)


def _discard(index: Index, key: str, slot: int) -> None:
    slots = index.get(key)
    if slots is None:
        return
    if isinstance(slots, int):
        if slots == slot:
            del index[key]
        return
    slots.discard(slot)
    if len(slots) == 1:
        index[key] = next(iter(slots))
