"""Raw tables produced by every loader, before ids are mapped.

A loader reads files and returns :class:`RawData`: canonical-column pandas frames with external
ids as strings, plus a :class:`LoadReport` that lists every row it rejected and why. Nothing is
ever dropped without an entry in the report.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class SkippedRow:
    """One input row that was rejected under ``on_bad_rows="skip"``."""

    file: str
    row: int
    field: str | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}, row {self.row}"
        if self.field is not None:
            where += f", field {self.field!r}"
        return f"{where}: {self.reason}"


@dataclass
class LoadReport:
    """What a loader did: files read, rows accepted, rows skipped with their reasons."""

    files: list[str] = field(default_factory=list)
    n_rows_read: int = 0
    skipped: list[SkippedRow] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def n_skipped(self) -> int:
        return len(self.skipped)

    def skipped_by_reason(self) -> dict[str, int]:
        """Count of skipped rows per reason."""
        return dict(Counter(s.reason for s in self.skipped))

    def merge(self, other: LoadReport) -> None:
        self.files.extend(other.files)
        self.n_rows_read += other.n_rows_read
        self.skipped.extend(other.skipped)
        self.notes.extend(other.notes)

    def summary(self) -> str:
        """A human-readable summary listing every skipped row."""
        lines = [
            f"read {self.n_rows_read} rows from {len(self.files)} file(s); skipped {self.n_skipped}"
        ]
        for reason, count in sorted(self.skipped_by_reason().items()):
            lines.append(f"  {count} x {reason}")
        for s in self.skipped:
            lines.append(f"  skipped {s}")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)


@dataclass
class RawData:
    """Loader output: interactions, optional catalogue and users, and the load report.

    ``interactions`` has at least ``user_id`` and ``item_id`` (strings) and ``source_row``
    (int, the global file order used as the stable tie-breaker); optional ``timestamp``
    (float seconds since the epoch, NaN when unknown), ``event`` (str), ``rating`` (float)
    and ``weight`` (float). ``items`` is indexed by nothing and has an ``item_id`` column plus
    any catalogue columns; ``users`` likewise with ``user_id``.
    """

    name: str
    interactions: pd.DataFrame
    items: pd.DataFrame | None = None
    users: pd.DataFrame | None = None
    report: LoadReport = field(default_factory=LoadReport)
    #: Format-specific extras (e.g. official MovieLens folds, MiniOneRec history rows).
    extras: dict[str, object] = field(default_factory=dict)
