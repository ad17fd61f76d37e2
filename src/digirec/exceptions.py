"""Exception types raised by digirec.

Every error that a user can cause carries enough context to fix it: the file, row and field for
bad input data, the offending ids for unknown ids, the install hint for a missing extra.
"""

from __future__ import annotations

from collections.abc import Sequence


class DigirecError(Exception):
    """Base class of all digirec errors."""


class SchemaError(DigirecError, ValueError):
    """A raw input table or file does not match the expected schema.

    Parameters
    ----------
    message:
        What is wrong.
    file:
        The source file (or ``None`` for in-memory frames).
    row:
        1-based data row number inside the file (header not counted), or ``None`` when the whole
        file or column is at fault.
    field:
        The column or JSON key at fault, or ``None``.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.row = row
        self.field = field
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.file is not None:
            where.append(f"file {self.file}")
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.field is not None:
            where.append(f"field {self.field!r}")
        prefix = ", ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class UnknownIdError(DigirecError, KeyError):
    """One or more external ids are not known to an id map."""

    def __init__(self, kind: str, ids: Sequence[object]) -> None:
        self.kind = kind
        self.ids = list(ids)
        shown = ", ".join(repr(i) for i in self.ids[:10])
        more = f" (and {len(self.ids) - 10} more)" if len(self.ids) > 10 else ""
        super().__init__(f"unknown {kind} id(s): {shown}{more}")

    def __str__(self) -> str:  # KeyError would quote the whole message otherwise
        return str(self.args[0])


class NotFittedError(DigirecError, RuntimeError):
    """A model was used before ``fit`` (or ``load``)."""


class ConfigError(DigirecError, ValueError):
    """A configuration value or combination is invalid."""


class ColdItemError(DigirecError, ValueError):
    """An item has no training interactions, and the model cannot answer for it without them
    (e.g. ``similar_items`` of a collaborative model)."""


class MissingExtraError(DigirecError, ImportError):
    """An optional dependency group is not installed."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"{package} is required for this feature: install it with "
            f"`pip install 'digirec[{extra}]'`"
        )


class MemoryBudgetError(DigirecError, MemoryError):
    """A dense allocation (e.g. an ``n_items²`` matrix) would exceed the memory budget.

    The message names the size, the budget and where it came from, and the alternatives
    (a scalable variant, a smaller catalogue, ``DIGIREC_MAX_MEMORY_GB``). See ``docs/scale.md``.
    """
