"""Spreadsheet cell escaping shared by exports and imports.

A spreadsheet evaluates a cell that starts with `=`, `+`, `-` or `@` as a formula (CSV injection:
`=cmd|' /C calc'!A0`). Some programs also strip a leading tab or carriage return first and then
evaluate what follows, so those are escaped too. The escape is the one OWASP recommends: a leading
apostrophe, which Excel and LibreOffice show as text and hide in the cell.
"""

from __future__ import annotations

from typing import Any

FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """Return `value` ready for a spreadsheet cell: strings that would be evaluated get a
    leading apostrophe; everything else (numbers, dates, None) is returned unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_LEADS):
        return "'" + value
    return value


def unescape_cell(value: Any) -> Any:
    """Undo `safe_cell` for a value read back from a file we (or Excel) wrote: a leading
    apostrophe followed by a formula-leading character is dropped, so `'+32470123456` re-imports
    as `+32470123456`. Other apostrophes (`'t Hof`) are kept."""
    if isinstance(value, str) and len(value) > 1 and value[0] == "'" and value[1] in "=+-@\t\r":
        return value[1:]
    return value
