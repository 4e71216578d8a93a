"""The one exception tree of suandian.

Every message says what went wrong, what was seen and how to fix it. The CLI prints the message
and exits non-zero; the API maps each class to one HTTP status with the same message.

::

    SuandianError
    ├── InputError (ValueError)          bad input from a user, a file or a request  → 422
    │   ├── ScenarioError                a park scenario that does not validate
    │   └── TimeError                    naive, misaligned or out-of-range timestamps
    ├── NotFound (LookupError)           a named thing that does not exist            → 404
    ├── InfeasiblePlan                   a plan whose requirements cannot all be met  → 409
    ├── LedgerConflict                   a certificate operation against the ledger   → 409
    ├── ExecutorError                    a compute executor failed to launch or track → 502
    └── StoreError                       the data store could not be read or written  → 503
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "ExecutorError",
    "FieldProblem",
    "InfeasiblePlan",
    "InputError",
    "LedgerConflict",
    "NotFound",
    "ScenarioError",
    "StoreError",
    "SuandianError",
    "TimeError",
]


class SuandianError(Exception):
    """Base of every error suandian raises on purpose."""


class InputError(SuandianError, ValueError):
    """Bad input: the message names the field, the value seen and the fix."""


@dataclass(frozen=True)
class FieldProblem:
    """One problem with one field of a structured input."""

    path: str
    """Dotted field path, e.g. ``pv_plants[0].p_dc_mwp``."""
    message: str
    """What is wrong and what is allowed (range and unit)."""
    value: object = None
    """The value that was seen, if any."""

    def __str__(self) -> str:
        seen = "" if self.value is None else f" (got {self.value!r})"
        return f"{self.path}: {self.message}{seen}"


class ScenarioError(InputError):
    """A park scenario file that does not validate; carries every problem found."""

    def __init__(self, source: str, problems: Sequence[FieldProblem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        lines = [f"{source}: {len(self.problems)} problem(s) in the scenario"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


class TimeError(InputError):
    """Naive, misaligned or out-of-range timestamps."""


class NotFound(SuandianError, LookupError):
    """A named scenario, meter, consumer, bundle or job that does not exist."""


class InfeasiblePlan(SuandianError):
    """A plan whose requirements cannot all be met; the message says which and by how much."""


class LedgerConflict(SuandianError):
    """A certificate operation that the ledger's rules refuse."""


class ExecutorError(SuandianError):
    """A compute executor could not launch or track a job."""


class StoreError(SuandianError):
    """The embedded or SQL store could not be opened, read or written."""
