"""Closed sets of names as string enums: ``Phase.THINKING == "thinking"``, so stored results and user code that
spell the string keep working, while a typo inside the library is an AttributeError and a bad value a ValueError."""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # typing.Self is Python 3.11+; the project runs on 3.10 too
    from typing import Self


class Named(str, Enum):
    """A closed set of names: each member compares, formats and serialises as its own string (``"cap"``)."""

    __str__ = str.__str__
    __format__ = str.__format__

    @classmethod
    def checked(cls, value: object, where: str) -> Self:
        """``value`` (a member or its string) as a member: the one check of a closed-set setting, whose error names
        ``where`` (the field, such as ``"SweepConfig.kind"``) and the names allowed."""
        try:
            return cls(value)
        except (ValueError, TypeError):
            names = ", ".join(repr(member.value) for member in cls)
            raise ValueError(f"{where} must be one of {names}, got {value!r}") from None
