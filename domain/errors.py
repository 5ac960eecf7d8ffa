"""One error type for every rule a clerk can break, with a reason a clerk can read."""

from __future__ import annotations


class DomainError(ValueError):
    """A refused input or action.

    `code` is stable and English (for API clients and tests); `message` is Chinese, shown on pages and
    returned in API errors as the reason; `field` names the offending input where there is one.
    """

    def __init__(self, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def __repr__(self) -> str:
        return f"DomainError({self.code!r}, {self.message!r}, field={self.field!r})"
