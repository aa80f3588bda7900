"""The warehouse load's arguments, checked (pure, no I/O) before anything is read or written."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from airflow_provider_dub.exceptions import DubValidationError
from airflow_provider_dub.transfers.sql_dialects import CONN_TYPE_DIALECTS, DIALECTS, MERGE_SYNTAXES, Dialect

#: ``[catalog.][schema.]name`` of letters, digits and ``_``: written into statements as is.
TABLE_PATTERN = r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}"
MAX_BATCH_SIZE = 1_000_000


@dataclass(frozen=True)
class LoadSettings:
    """The validated arguments of one load."""

    table: str
    history_table: str | None
    snapshot_date: str
    max_deleted_share: float
    batch_size: int


def check_table(name: str, value: Any, *, optional: bool = False) -> str | None:
    """A table name safe to write into SQL, or None for an unset optional one."""
    if optional and (value is None or value == ""):
        return None
    if not isinstance(value, str) or not re.fullmatch(TABLE_PATTERN, value.strip()):
        raise DubValidationError(
            name, f"{value!r} is not a table name", "[catalog.][schema.]name of letters, digits and '_'"
        )
    return value.strip()


def check_snapshot_date(value: Any) -> str:
    """A ``YYYY-MM-DD`` calendar date."""
    text = value.strip() if isinstance(value, str) else value
    try:
        if not isinstance(text, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError
        date.fromisoformat(text)
    except ValueError:
        raise DubValidationError(
            "snapshot_date", f"{value!r} is not a date", "a date 'YYYY-MM-DD', e.g. '{{ ds }}'"
        ) from None
    return text


def check_share(value: Any) -> float:
    """A number from 0 to 1 (a string of one too: what a template renders)."""
    try:
        if isinstance(value, bool):
            raise ValueError
        share = float(value)
    except (TypeError, ValueError):
        share = math.nan
    if not 0 <= share <= 1:
        raise DubValidationError("max_deleted_share", f"{value!r} is not a share", "a number from 0 to 1")
    return share


def check_batch_size(value: Any) -> int:
    """An integer from 1 to :data:`MAX_BATCH_SIZE` (a string of digits too)."""
    text = value.strip() if isinstance(value, str) else value
    if isinstance(text, str) and re.fullmatch(r"\d+", text):
        text = int(text)
    if isinstance(text, bool) or not isinstance(text, int) or not 1 <= text <= MAX_BATCH_SIZE:
        raise DubValidationError(
            "batch_size", f"{value!r} is not a batch size", f"an integer from 1 to {MAX_BATCH_SIZE}"
        )
    return text


def check_settings(
    *, table: Any, history_table: Any, snapshot_date: Any, max_deleted_share: Any, batch_size: Any
) -> LoadSettings:
    """:raises DubValidationError: naming the first bad argument and what it accepts."""
    checked_table = check_table("table", table)
    history = check_table("history_table", history_table, optional=True)
    if history is not None and history.lower() in (
        str(checked_table).lower(),
        f"{checked_table}_staging".lower(),
    ):
        raise DubValidationError(
            "history_table", f"{history!r} is the table or its staging table", "another table"
        )
    return LoadSettings(
        table=str(checked_table),
        history_table=history,
        snapshot_date=check_snapshot_date(snapshot_date),
        max_deleted_share=check_share(max_deleted_share),
        batch_size=check_batch_size(batch_size),
    )


def choose_dialect(conn_type: str | None, dialect: Any, merge_syntax: Any) -> tuple[Dialect, str]:
    """
    The dialect (as given, else from the connection type) and its merge syntax.

    :raises DubValidationError: on an unknown dialect or a syntax the dialect lacks.
    """
    if dialect in (None, ""):
        name = CONN_TYPE_DIALECTS.get(conn_type or "")
        if name is None:
            raise DubValidationError(
                "dialect",
                f"none given, and the connection type {conn_type!r} has no known dialect",
                tuple(DIALECTS),
            )
    elif isinstance(dialect, str) and dialect.strip().lower() in DIALECTS:
        name = dialect.strip().lower()
    else:
        raise DubValidationError("dialect", f"{dialect!r} is not a known dialect", tuple(DIALECTS))
    chosen = DIALECTS[name]
    if merge_syntax in (None, ""):
        return chosen, chosen.default_merge_syntax
    syntax = merge_syntax.strip().lower() if isinstance(merge_syntax, str) else merge_syntax
    if syntax not in MERGE_SYNTAXES or syntax not in chosen.merge_syntaxes:
        raise DubValidationError(
            "merge_syntax", f"{merge_syntax!r} is not a merge syntax of {name}", chosen.merge_syntaxes
        )
    return chosen, syntax
