"""Every error spansift raises derives from `SpansiftError`."""

from __future__ import annotations

from dataclasses import dataclass

from spansift.model import Origin


class SpansiftError(Exception):
    """Base class: a problem the user can fix, with a message that says how."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One located problem in user input: a rule file, a contracts file, an OTLP file."""

    origin: Origin
    code: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        text = f"{self.origin}: {self.code}: {self.message}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class ConfigError(SpansiftError):
    """Rules or contracts that cannot be loaded; carries every problem found, not just the first."""

    def __init__(self, problems: tuple[Problem, ...]) -> None:
        self.problems = problems
        count = len(problems)
        head = f"{count} problem{'s' if count != 1 else ''} in rules or contracts"
        super().__init__(head + "\n" + "\n".join(str(p) for p in problems))


class InputError(SpansiftError):
    """Telemetry that cannot be decoded (a bad OTLP file line, a bad request body)."""

    def __init__(self, origin: Origin, message: str) -> None:
        self.origin = origin
        self.reason = message
        super().__init__(f"{origin}: {message}")
