"""The one exception type the kit raises for bad input; the CLI turns it into exit 2, never a traceback."""

from __future__ import annotations


class CheckError(Exception):
    """Input the kit cannot judge: says what was expected, where, what was found and what to do."""

    def __init__(
        self,
        what: str,
        *,
        where: str | None = None,
        expected: str | None = None,
        found: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.what, self.where, self.expected, self.found, self.hint = what, where, expected, found, hint
        super().__init__(self.render())

    def render(self) -> str:
        parts = [self.what]
        if self.where:
            parts.append(f"where: {self.where}")
        if self.expected:
            parts.append(f"expected: {self.expected}")
        if self.found:
            parts.append(f"found: {self.found}")
        if self.hint:
            parts.append(f"what to do: {self.hint}")
        return "\n  ".join(parts)


class FormatNotRecognised(CheckError):
    """The text is not in any log format the parser knows: distinct from a value out of tolerance."""
