"""The fault suite's table: one row per run, printed at the end of the session and written to a file."""

from __future__ import annotations

from dataclasses import dataclass

#: Column titles and widths of the printed table.
COLUMNS = (
    ("fault", 34),
    ("seed", 4),
    ("run by", 9),
    ("read", 8),
    ("outcome", 44),
    ("requests", 8),
    ("faults", 6),
    ("429", 4),
    ("422", 4),
    ("seconds", 7),
)


@dataclass(frozen=True)
class FaultRow:
    """One run of the fault suite and what came of it."""

    fault: str
    seed: int
    run_by: str  # "dag.test" or "execute" (the operator driven directly) or "hook"
    read: str  # "parallel" or "serial"
    outcome: str  # "exact: N customers" or "failed: <error class>, no partial file"
    requests: int  # requests the emulator saw, faulted ones included
    faults: int  # requests answered with an injected fault
    throttled: int  # 429 answers
    cursor_lost: int  # 422 answers (deleted cursors)
    seconds: float

    def cells(self) -> list[str]:
        return [
            self.fault,
            str(self.seed),
            self.run_by,
            self.read,
            self.outcome,
            str(self.requests),
            str(self.faults),
            str(self.throttled),
            str(self.cursor_lost),
            f"{self.seconds:.1f}",
        ]


def render(rows: list[FaultRow]) -> str:
    """The rows as a fixed-width text table, in the order of the suite's scenarios."""
    lines = []
    header = "  ".join(title.ljust(width) for title, width in COLUMNS)
    lines.append(header.rstrip())
    lines.append("  ".join("-" * width for _, width in COLUMNS))
    for row in rows:
        cells = row.cells()
        lines.append(
            "  ".join(cell.ljust(width) for cell, (_, width) in zip(cells, COLUMNS, strict=True)).rstrip()
        )
    return "\n".join(lines)
