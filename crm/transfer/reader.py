"""Reading a spreadsheet of people: CSV (comma, semicolon or tab; UTF-8 with or without BOM, or
Windows-1252 as Excel saves "CSV" in Belgian locales) and XLSX, one row at a time.

A `Sheet` gives the header and then the data rows as lists of text cells, numbered as the
spreadsheet shows them (the header is row 1). Rows are produced lazily, never all at once:
a 50,000-row file is read twice per import (once to count, once to import) without holding
the parsed rows. Whole-file problems raise `FileRefused` (one line a person can act on);
problems of one row come back as that row's `error`."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from crm.config import settings
from crm.errors import DomainError, InvalidInput

BOM = b"\xef\xbb\xbf"
NOT_UTF8 = "not valid UTF-8: save as 'CSV UTF-8'"
CP1252_NOTICE = (
    "the file is not UTF-8: it was read as Windows-1252 (Excel's 'CSV'); "
    "check the accents, or save as 'CSV UTF-8'"
)
_DELIMITERS = (";", ",", "\t")
# Bytes undecodable in UTF-8 come back as lone surrogates with errors="surrogateescape".
_ESCAPED = re.compile("[\udc80-\udcff]")
_UTF8_MULTIBYTE = re.compile("[\u0080-\udc7f\udd00-\U0010ffff]")
# csv refuses fields over 128 KB by default; a cell of a person is never that long.
csv.field_size_limit(1024 * 1024)


class FileRefused(InvalidInput):
    """The file cannot be imported at all (unreadable, no header, wrong kind)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="file")


class FileTooLarge(DomainError):
    """More rows or bytes than IMPORT_MAX_ROWS / IMPORT_MAX_BYTES: nothing is imported."""

    status_code = 413

    def __init__(self, message: str) -> None:
        super().__init__(message, field="file")


@dataclass(slots=True)
class SheetRow:
    number: int  # as the spreadsheet shows it (header = 1)
    cells: list[str | None]
    error: str | None = None  # this row cannot be read (e.g. not valid UTF-8)


def detect_format(filename: str, content: bytes) -> str:
    """`csv` or `xlsx`, by the content first (an XLSX file is a zip), then the name."""
    if content[:4] == b"PK\x03\x04":
        return "xlsx"
    lower = filename.lower()
    if lower.endswith((".xlsx", ".xlsm")):
        raise FileRefused("this .xlsx file is not a valid Excel workbook")
    if lower.endswith(".xls"):
        raise FileRefused("old Excel files (.xls) cannot be read: save as .xlsx or 'CSV UTF-8'")
    return "csv"


def check_size(size: int) -> None:
    """FileTooLarge when `size` bytes are more than IMPORT_MAX_BYTES."""
    if size > settings.IMPORT_MAX_BYTES:
        raise FileTooLarge(
            f"the file is {size / 1_048_576:.1f} MB; at most "
            f"{settings.IMPORT_MAX_BYTES / 1_048_576:.0f} MB can be imported at once: "
            "split it into several files"
        )


class Sheet:
    """One file's header and rows. Open with `open_sheet`."""

    header: list[str]
    notice: str | None = None

    def rows(self) -> Iterator[SheetRow]:
        """The data rows that hold something (wholly empty rows are skipped), in order."""
        raise NotImplementedError

    def count_rows(self) -> int:
        """The number of data rows; FileTooLarge beyond IMPORT_MAX_ROWS."""
        limit = settings.IMPORT_MAX_ROWS
        count = 0
        for _ in self.rows():
            count += 1
            if count > limit:
                raise FileTooLarge(
                    f"the file holds more than {limit:,} rows; split it into files of at most "
                    f"{limit:,} rows"
                )
        return count

    def samples(self, n: int = 3) -> list[list[str]]:
        """Up to `n` non-empty values of each column (what the mapping page shows)."""
        found: list[list[str]] = [[] for _ in self.header]
        for k, row in enumerate(self.rows()):
            if row.error is None:
                for i, value in enumerate(row.cells[: len(found)]):
                    if value and len(found[i]) < n:
                        found[i].append(value[:60])
            if k >= 200 or all(len(f) >= n for f in found):
                break
        return found


def _clean_header(cells: list[str | None]) -> list[str]:
    header = [(c or "").strip().lstrip("\ufeff").strip() for c in cells]
    while header and not header[-1]:
        header.pop()  # Excel's trailing empty columns
    if not any(header):
        raise FileRefused("the first row holds no column names: a header row is required")
    # Unnamed columns get a name, so they can be mapped (or ignored) like the others.
    return [h or f"column {i + 1}" for i, h in enumerate(header)]


# ---- CSV ----------------------------------------------------------------------------------------


class CsvSheet(Sheet):
    def __init__(self, content: bytes) -> None:
        if content.startswith(BOM):
            content = content[len(BOM) :]
        if not content.strip():
            raise FileRefused("the file is empty")
        if b"\x00" in content[:4096]:
            raise FileRefused(
                "this is not a CSV text file (UTF-16 or binary): save as 'CSV UTF-8' or .xlsx"
            )
        text = content.decode("utf-8", errors="surrogateescape")
        self._mixed = False
        if _ESCAPED.search(text):
            if _UTF8_MULTIBYTE.search(text):
                # Some rows are UTF-8 and some are not (files pasted together): the others are
                # refused one by one rather than guessed.
                self._mixed = True
            else:
                text = content.decode("cp1252", errors="replace")
                self.notice = CP1252_NOTICE
        self._text = text
        first_line = text.split("\n", 1)[0]
        self.delimiter = max(_DELIMITERS, key=first_line.count)
        reader = self._reader()
        try:
            first = next(reader)
        except StopIteration:
            raise FileRefused("the file is empty") from None
        except csv.Error as exc:
            raise FileRefused(f"the first row cannot be read as CSV: {exc}") from None
        if self._mixed and any(_ESCAPED.search(c) for c in first):
            raise FileRefused(f"the header row is {NOT_UTF8}")
        self.header = _clean_header(list(first))

    def _reader(self) -> Iterator[list[str]]:
        return csv.reader(io.StringIO(self._text, newline=""), delimiter=self.delimiter)

    def rows(self) -> Iterator[SheetRow]:
        reader = self._reader()
        number = 0
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                number += 1
                if number > 1:
                    yield SheetRow(number, [], f"cannot be read as CSV: {exc}")
                continue
            number += 1
            if number == 1:
                continue  # the header
            if not any(c.strip() for c in cells):
                continue
            error = None
            if self._mixed and any(_ESCAPED.search(c) for c in cells):
                error = NOT_UTF8
                cells = [_ESCAPED.sub("\ufffd", c) for c in cells]
            yield SheetRow(number, list(cells), error)


# ---- XLSX ---------------------------------------------------------------------------------------


def cell_text(value: Any) -> str | None:
    """An Excel value as the text a person typed: dates in ISO, whole numbers without `.0`
    (a phone Excel turned into 470123456 stays those digits), text as it is."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat()
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


class XlsxSheet(Sheet):
    def __init__(self, content: bytes, sheet: str | None = None) -> None:
        import openpyxl

        try:
            # read_only streams the sheet; data_only=False keeps formulas as their text
            # ("=HYPERLINK(…)"), so they are seen and refused, never evaluated.
            self._book = openpyxl.load_workbook(
                io.BytesIO(content), read_only=True, data_only=False
            )
        except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError) as exc:
            raise FileRefused(f"this Excel file cannot be read ({type(exc).__name__})") from None
        names = self._book.sheetnames
        if sheet:
            if sheet not in names:
                raise InvalidInput(
                    f"no sheet named {sheet!r} (sheets: {', '.join(names)})", field="sheet"
                )
            self._sheet = self._book[sheet]
        else:
            self._sheet = self._book.worksheets[0]
        first = next(self._iter(), None)
        if first is None:
            raise FileRefused("the first sheet is empty")
        self.header = _clean_header([cell_text(v) for v in first])

    def _iter(self) -> Iterator[tuple[Any, ...]]:
        try:
            yield from self._sheet.iter_rows(values_only=True)
        except (zipfile.BadZipFile, KeyError, OSError, ValueError, TypeError) as exc:
            raise FileRefused(f"this Excel file cannot be read ({type(exc).__name__})") from None

    def rows(self) -> Iterator[SheetRow]:
        for number, values in enumerate(self._iter(), start=1):
            if number == 1:
                continue
            cells = [cell_text(v) for v in values]
            if any(c is not None and c.strip() for c in cells):
                yield SheetRow(number, cells)


def open_sheet(content: bytes, file_format: str, *, sheet: str | None = None) -> Sheet:
    """The file as a Sheet; FileRefused (422) or FileTooLarge (413) when it cannot be."""
    check_size(len(content))
    if file_format == "xlsx":
        return XlsxSheet(content, sheet)
    return CsvSheet(content)
