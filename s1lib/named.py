"""Closed sets of names as string enums: ``Phase.THINKING == "thinking"``, so stored results and user code that
spell the string keep working, while a typo inside the library is an AttributeError and a bad value a ValueError."""

from enum import Enum


class Named(str, Enum):
    """A closed set of names: each member compares, formats and serialises as its own string (``"cap"``)."""

    __str__ = str.__str__
    __format__ = str.__format__
