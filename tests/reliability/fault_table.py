"""The fault suite's table: one row per run, printed at the end of the session and written to a file."""

from __future__ import annotations

from dataclasses import dataclass

#: Column titles of the printed table.
COLUMNS = ("fault", "seed", "run by", "read", "outcome", "requests", "faults", "429", "422", "seconds")


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
    """The rows as a fixed-width text table, in the order they ran."""
    table = [list(COLUMNS), *(row.cells() for row in rows)]
    widths = [max(len(line[column]) for line in table) for column in range(len(COLUMNS))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in table
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)
