"""User-facing errors: one line with a code, the place, and how to fix it.

Every layer raises :class:`PhoenixError` (or a subclass) for mistakes a user can fix. Front ends print
``str(error)`` (:meth:`PhoenixError.text`) and exit with :attr:`PhoenixError.exit_code`; internal errors keep
their traceback. The first line stays short and the same from run to run; what is long (every valid value,
a list of names) goes in ``detail``, printed indented below it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence


class PhoenixError(Exception):
    """A mistake the user can fix. ``code`` is stable (documented in the README)."""

    exit_code = 2

    def __init__(self, code: str, message: str, *, where: str | None = None, fix: str | None = None,
                 detail: Sequence[str] = ()) -> None:
        self.code = code
        self.message = message
        self.where = where
        self.fix = fix
        self.detail = tuple(detail)
        super().__init__(self.text())

    def text(self) -> str:
        """The first line, then each line of ``detail`` indented below it."""
        return "\n".join([self.one_line(), *(f"  {line}" for line in self.detail)])

    def one_line(self) -> str:
        parts = [f"error[{self.code}]"]
        if self.where:
            parts.append(f"{self.where}:")
        parts.append(self.message)
        text = " ".join(parts)
        if self.fix:
            text += f" (fix: {self.fix})"
        return text


class InfrastructureError(PhoenixError):
    """The harness could not measure: a collector crashed, Prometheus is unreachable, a port is taken.

    An experiment that ends with one of these is ``inconclusive``, never ``reject``.
    """

    exit_code = 3


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest choice, or an empty string."""
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f" (did you mean '{matches[0]}'?)" if matches else ""
