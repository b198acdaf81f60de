"""Exports: named datasets, filtered like the lists, written to CSV or XLSX in batches.

A dataset is registered by name (`register_dataset`): people, interactions and referrals live in
`crm.transfer.export_datasets`; the campaign results are registered by `campaigns.export` when the
app or the CLI is wired (`crm` never imports `campaigns`). Rows are read in batches of
`BATCH_SIZE` by id (keyset pagination), so memory stays flat whatever the number of people: CSV
is produced as a stream of chunks, XLSX through openpyxl's write-only workbook into a temporary
file. Every export is a permission of its own (`crm.transfer.export_permission`) and writes one
audit entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE
from tortoise.models import Model
from tortoise.queryset import QuerySet

from crm.audit import service as audit
from crm.auth.actor import Actor
from crm.config import settings
from crm.enums import Role
from crm.errors import Forbidden, InvalidInput, NotFound
from crm.transfer.cells import safe_cell
from crm.transfer.export_filters import ExportFilters
from crm.transfer.export_permission import may_export

BATCH_SIZE = 1000
FORMATS = ("csv", "xlsx")
# `;` by default: Excel in a Belgian (French, Dutch or German) locale splits a double-clicked
# CSV on semicolons, and would show a comma-separated file as one column.
DELIMITERS = (";", ",")
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_BOM = "\ufeff"


@dataclass(frozen=True)
class Column:
    """One column: a stable English name (funders' templates and re-imports read it) and how
    its values are written (`text`, `phone`, `datetime`, `date`, `number`)."""

    name: str
    kind: str = "text"


@dataclass(frozen=True)
class Dataset:
    """What one export is made of. `query` gives the rows the actor may export with the filters
    applied (a queryset ordered and paged by id here); `convert` turns one batch of rows into
    cell values, one list per row, in the order of `columns(actor)`."""

    name: str
    roles: frozenset[Role]
    columns: Callable[[Actor], list[Column]]
    query: Callable[[Actor, ExportFilters], QuerySet[Any]]
    convert: Callable[[Actor, list[Any], ExportFilters], Awaitable[list[list[Any]]]]
    # Filters this dataset understands (others are refused, naming the filter).
    filters: frozenset[str] = frozenset()
    # Values `status` may take, when the dataset has a status.
    statuses: frozenset[str] = frozenset()
    # Filters that must be given (the recipients of one campaign need the campaign).
    required: frozenset[str] = frozenset()
    unit: str = "rows"


_datasets: dict[str, Dataset] = {}
_ORDER = {
    name: n
    for n, name in enumerate(
        ("leads", "interactions", "referrals", "campaign-results", "campaign-recipients")
    )
}


def register_dataset(dataset: Dataset) -> None:
    """Make a dataset exportable (later registrations of the same name replace it)."""
    _datasets[dataset.name] = dataset


def _with_builtin() -> dict[str, Dataset]:
    # The CRM's own datasets register when their module is first imported (it imports this
    # one, hence the late import).
    from crm.transfer import export_datasets  # noqa: F401

    # In the order pages and help list them, whoever registered first.
    return dict(sorted(_datasets.items(), key=lambda item: _ORDER.get(item[0], len(_ORDER))))


def get_dataset(name: str) -> Dataset:
    _with_builtin()
    if name not in _datasets:
        known = ", ".join(_datasets) or "none"
        raise NotFound(f"no export named {name!r} (known: {known})", field="dataset")
    return _datasets[name]


def datasets_for(actor: Actor) -> list[Dataset]:
    """The datasets this actor's role may export (the permission itself is checked apart)."""
    return [d for d in _with_builtin().values() if actor.role in d.roles]


def check_filters(dataset: Dataset, filters: ExportFilters) -> None:
    """Refuse a filter the dataset does not understand, a bad status or a missing filter:
    an export that silently ignored a filter would hand out more than was asked."""
    given = filters.given()
    for name in given:
        if name not in dataset.filters:
            raise InvalidInput(f"does not apply to the {dataset.name} export", field=name)
    for status in filters.status or []:
        if status not in dataset.statuses:
            allowed = ", ".join(sorted(dataset.statuses))
            raise InvalidInput(f"{status!r} is not one of {allowed}", field="status")
    for name in dataset.required:
        if name not in given:
            raise InvalidInput(f"is required for the {dataset.name} export", field=name)


async def authorize(actor: Actor, name: str) -> Dataset:
    """The dataset, once the actor is proven allowed to export it (Forbidden naming
    `can_export` or `dataset` otherwise)."""
    if not await may_export(actor):
        raise Forbidden("exporting needs the export permission", field="can_export")
    dataset = get_dataset(name)
    if actor.role not in dataset.roles:
        raise Forbidden(f"the {actor.role.value} role may not export {name}", field="dataset")
    return dataset


# --- cells ---------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


def _local(value: datetime) -> datetime:
    # Stored in UTC; shown in the organisation's time zone, as the lists show it.
    if value.tzinfo is None:
        return value
    return value.astimezone(settings.tz).replace(tzinfo=None)


def csv_value(value: Any) -> str:
    """A cell as CSV text: dates `YYYY-MM-DD HH:MM` in TIMEZONE, formula-leading text escaped
    (phones too: `'+32470123456`, which Excel reads as the text +32470123456 instead of turning
    it into the number 32470123456; the importer drops the apostrophe)."""
    if value is None:
        return ""
    if type(value) is str:  # most cells: skip the checks below
        return safe_cell(value)
    value = _plain(value)
    if isinstance(value, datetime):
        return _local(value).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (int, float)):
        return str(value)
    return safe_cell(str(value))


def xlsx_cell(sheet: Any, column: Column, value: Any) -> Any:
    """A cell for the write-only sheet: real dates and numbers, text always a text cell.

    Text that starts like a formula gets the same apostrophe as in CSV, so it stays inert even
    after the file is saved again as CSV. A phone (E.164, `+` and digits only: never a formula)
    is a text cell marked with Excel's own "quote prefix", shown without an apostrophe and kept
    as text when edited."""
    value = _plain(value)
    if isinstance(value, datetime):
        cell = WriteOnlyCell(sheet, value=_local(value))
        cell.number_format = "yyyy-mm-dd hh:mm"
        return cell
    if isinstance(value, date):
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = "yyyy-mm-dd"
        return cell
    if value is None or isinstance(value, (int, float)):
        return value  # a plain value: openpyxl makes the cell (faster than a WriteOnlyCell)
    # XML cannot hold most control characters (openpyxl would refuse the whole file): drop them.
    text = ILLEGAL_CHARACTERS_RE.sub("", str(value))
    if column.kind == "phone":
        cell = WriteOnlyCell(sheet, value=text)
        cell.quotePrefix = True
    else:
        text = safe_cell(text)
        if text not in ERROR_CODES:
            return text  # never starts with "=" now, so openpyxl keeps it a text cell
        cell = WriteOnlyCell(sheet, value=text)  # "#N/A" would become an error cell
    cell.data_type = "s"
    return cell


# --- reading in batches --------------------------------------------------------------------------


async def batches(
    dataset: Dataset, actor: Actor, filters: ExportFilters
) -> AsyncIterator[list[list[Any]]]:
    """The dataset's rows, `BATCH_SIZE` at a time, by increasing id (keyset pagination: every
    batch is one indexed query, however deep in the export)."""
    query = dataset.query(actor, filters)
    last_id = 0
    while True:
        items: list[Model] = await query.filter(id__gt=last_id).order_by("id").limit(BATCH_SIZE)
        if not items:
            return
        yield await dataset.convert(actor, items, filters)
        if len(items) < BATCH_SIZE:
            return
        last_id = items[-1].pk


async def count_rows(dataset: Dataset, actor: Actor, filters: ExportFilters) -> int:
    return await dataset.query(actor, filters).count()


# --- writers -------------------------------------------------------------------------------------


def _csv_text(rows: Sequence[Sequence[Any]], delimiter: str) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerows(rows)
    return buffer.getvalue()


def _header(columns: list[Column], delimiter: str) -> bytes:
    return (_BOM + _csv_text([[c.name for c in columns]], delimiter)).encode("utf-8")


def _csv_rows(columns: list[Column], rows: list[list[Any]], delimiter: str) -> bytes:
    # strict: a converter out of step with its columns fails instead of shifting cells.
    text = [[csv_value(v) for _, v in zip(columns, row, strict=True)] for row in rows]
    return _csv_text(text, delimiter).encode("utf-8")


async def csv_chunks(
    dataset: Dataset, actor: Actor, filters: ExportFilters, *, delimiter: str = ";"
) -> AsyncIterator[bytes]:
    """The CSV file as chunks of bytes: UTF-8 with a BOM (so Excel reads accents right), a
    header of column names, then one chunk per batch."""
    columns = dataset.columns(actor)
    yield _header(columns, delimiter)
    async for rows in batches(dataset, actor, filters):
        yield _csv_rows(columns, rows, delimiter)


async def write_csv(
    dataset: Dataset, actor: Actor, filters: ExportFilters, path: Path, *, delimiter: str
) -> int:
    """Write the CSV file to `path`; returns the number of rows."""
    columns = dataset.columns(actor)
    count = 0
    with path.open("wb") as out:
        out.write(_header(columns, delimiter))
        async for rows in batches(dataset, actor, filters):
            out.write(_csv_rows(columns, rows, delimiter))
            count += len(rows)
    return count


def _append(sheet: Any, columns: list[Column], rows: list[list[Any]]) -> None:
    for row in rows:
        sheet.append([xlsx_cell(sheet, c, v) for c, v in zip(columns, row, strict=True)])


async def write_xlsx(dataset: Dataset, actor: Actor, filters: ExportFilters, path: Path) -> int:
    """Write the XLSX file to `path`; returns the number of rows. openpyxl's write-only mode
    keeps only the current row in memory; its work runs in a thread between two batches, so the
    event loop keeps serving other requests."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=dataset.name[:31])
    columns = dataset.columns(actor)
    sheet.append([c.name for c in columns])
    count = 0
    async for rows in batches(dataset, actor, filters):
        await asyncio.to_thread(_append, sheet, columns, rows)
        count += len(rows)
    await asyncio.to_thread(workbook.save, str(path))
    return count


# --- one export, end to end ----------------------------------------------------------------------


@dataclass
class ExportRequest:
    """What was asked: the dataset, the filters, the format and the CSV delimiter."""

    dataset: str
    fmt: str
    filters: ExportFilters = field(default_factory=ExportFilters)
    delimiter: str = ";"

    def validate(self) -> None:
        if self.fmt not in FORMATS:
            raise InvalidInput(f"must be one of {', '.join(FORMATS)}", field="format")
        if self.delimiter not in DELIMITERS:
            raise InvalidInput("must be ';' or ','", field="delimiter")


def filename(dataset: str, fmt: str) -> str:
    """`passerelle-leads-2026-11-23.csv` (the date in the organisation's time zone)."""
    return f"passerelle-{dataset}-{datetime.now(settings.tz):%Y-%m-%d}.{fmt}"


async def _audit(actor: Actor, request: ExportRequest, rows: int) -> None:
    await audit.record(
        actor,
        f"export.{request.dataset}",
        entity="export",
        entity_id=None,
        changes={
            "format": request.fmt,
            "filters": request.filters.as_audit(),
            "rows": rows,
            **({"delimiter": request.delimiter} if request.fmt == "csv" else {}),
        },
    )


async def prepare(actor: Actor, request: ExportRequest) -> Dataset:
    """Check everything before a byte is written: permission, dataset, format, filters."""
    request.validate()
    dataset = await authorize(actor, request.dataset)
    check_filters(dataset, request.filters)
    return dataset


async def export_to_file(actor: Actor, request: ExportRequest, path: Path) -> int:
    """Write the export to `path` (written beside it first, then renamed, so a failed export
    never leaves half a file under the asked name); audited; returns the number of rows."""
    dataset = await prepare(actor, request)
    fd, temp = tempfile.mkstemp(prefix=".export-", suffix=f".{request.fmt}", dir=path.parent)
    os.close(fd)
    try:
        if request.fmt == "xlsx":
            rows = await write_xlsx(dataset, actor, request.filters, Path(temp))
        else:
            rows = await write_csv(
                dataset, actor, request.filters, Path(temp), delimiter=request.delimiter
            )
        os.replace(temp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):  # renamed: nothing left to remove
            os.unlink(temp)
    await _audit(actor, request, rows)
    return rows


@dataclass
class PreparedDownload:
    """An export ready to send over HTTP: either a stream of CSV chunks or a built XLSX file
    (to delete once sent)."""

    filename: str
    media_type: str
    rows: int
    chunks: AsyncIterator[bytes] | None = None
    path: Path | None = None


async def prepare_download(actor: Actor, request: ExportRequest) -> PreparedDownload:
    """Check, audit and start the export. The audit entry is written before the download
    starts (who took which data out is what matters, even if the browser stops half-way); its
    row count is counted with the same filters."""
    dataset = await prepare(actor, request)
    name = filename(request.dataset, request.fmt)
    if request.fmt == "xlsx":
        fd, temp = tempfile.mkstemp(prefix="passerelle-export-", suffix=".xlsx")
        os.close(fd)
        try:
            rows = await write_xlsx(dataset, actor, request.filters, Path(temp))
        except BaseException:
            os.unlink(temp)
            raise
        await _audit(actor, request, rows)
        return PreparedDownload(name, XLSX_MEDIA_TYPE, rows, path=Path(temp))
    rows = await count_rows(dataset, actor, request.filters)
    await _audit(actor, request, rows)
    chunks = csv_chunks(dataset, actor, request.filters, delimiter=request.delimiter)
    return PreparedDownload(name, CSV_MEDIA_TYPE, rows, chunks=chunks)
