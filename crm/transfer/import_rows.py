"""One row of an import file made into a person's values, or refused naming the field.

Rows go through the same checks as every other entry point (`LeadCreate` and
`people.service.normalise`: E.164 phone with BE default, lower-case e-mail, postcode → region
and default language, known segments), plus what only files have: spreadsheet formulas,
placeholders such as "-", languages, genders, employment statuses, backgrounds and yes/no
written out in four languages, and the same person twice in one file. No database query per
row: the segment vocabulary is read once."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from crm.errors import InvalidInput
from crm.people.schemas import LeadCreate
from crm.people.service import normalise
from crm.transfer.cells import unescape_cell
from crm.transfer.mapping import (
    BACKGROUND_WORDS,
    EMPLOYMENT_WORDS,
    GENDER_WORDS,
    LANGUAGE_WORDS,
    SOURCE_WORDS,
    STAGE_WORDS,
    YES_NO_WORDS,
    ColumnMap,
    ImportOptions,
    fold,
)
from crm.transfer.reader import SheetRow

# Cells that mean "nothing here" in office spreadsheets.
_PLACEHOLDERS = frozenset({"-", "--", "---", "–", "—", "/", "?", "n/a", "na", "n.a.", "nvt",
                           "n.v.t.", "k.a.", "k. a.", "/ ", "x/x"})  # fmt: skip
# Numbers as people write them (phones, years): never a formula, even with a leading + or -.
_NUMBER_LIKE = re.compile(r"^[+\-]?[\d\s().,/\-+]*$")
# A function call, a sheet or DDE reference, a cell reference: what makes +, - or @ a formula.
_FORMULA_SYNTAX = re.compile(r"[(|!=\"]|^[+\-@]\s*\$?[A-Za-z]{1,3}\$?\d")
_SEGMENT_SPLIT = re.compile(r"[,;|/\n]+")
_DATE_YEAR = re.compile(r"^(\d{4})-\d{1,2}-\d{1,2}|^\d{1,2}[./-]\d{1,2}[./-](\d{4})$")


def looks_like_formula(text: str) -> bool:
    """A cell a spreadsheet would evaluate: `=…`, and `+`, `-` or `@` followed by a function
    call, a reference or DDE (`+cmd|' /C calc'!A0`, `@SUM(…)`, `-2+3+cmd|…`). A phone
    `+32 470…`, a lone `-` or a name such as `-Marie` are not."""
    value = text.lstrip(" \t\r\n")
    if len(value) < 2 or value[0] not in "=+-@":
        return False
    if value[0] == "=":
        return True
    if _NUMBER_LIKE.match(value):
        return False
    return bool(_FORMULA_SYNTAX.search(value))


@dataclass(slots=True)
class Refusal:
    row: int
    field: str
    message: str
    values: dict[str, Any] | None = None


@dataclass(slots=True)
class PreparedRow:
    row: int
    values: dict[str, Any]  # normalised: what a new person would get
    segments: list[str] = field(default_factory=list)
    raw: dict[str, Any] | None = None  # what the report shows of the row


class RowError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _word(field: str, text: str, words: dict[str, Any], expected: str) -> Any:
    found = words.get(fold(text))
    if found is None:
        raise RowError(field, f"unknown {field.replace('_', ' ')} {text!r} ({expected})")
    return found


def _birth_year(text: str) -> int:
    value = text.strip()
    if value.isdigit() and len(value) == 4:
        return int(value)
    match = _DATE_YEAR.match(value)
    if match:
        return int(match.group(1) or match.group(2))
    raise RowError("birth_year", f"{text!r} is not a year or a date of birth")


def _whole_number(field: str, text: str) -> int:
    value = text.strip()
    if not (value.isascii() and value.isdigit()):
        raise RowError(field, f"{text!r} is not a whole number")
    if len(value) > 9:
        raise RowError(field, f"{text!r} is too large")
    return int(value)  # the range is LeadCreate's to check


class RowPreparer:
    """Turns rows into PreparedRow or Refusal; remembers phones and e-mails seen in the file so
    the second row of the same person is refused ("same person as row N")."""

    def __init__(
        self, columns: ColumnMap, options: ImportOptions, vocabulary: dict[str, dict[str, str]]
    ) -> None:
        self.columns = columns
        self.options = options
        self.seen: dict[str, int] = {}
        self._segment_words: dict[str, str] = {}
        for code, labels in vocabulary.items():
            self._segment_words[fold(code)] = code
            for label in labels.values():
                self._segment_words.setdefault(fold(label), code)
        self._fixed_segments = self._segments(options.segments) if options.segments else []

    def _segments(self, items: list[str]) -> list[str]:
        codes = []
        for item in items:
            code = self._segment_words.get(fold(item))
            if code is None:
                raise RowError("segments", f"unknown segment {item.strip()!r}")
            codes.append(code)
        return codes

    def _cells(self, cells: list[str | None]) -> dict[str, Any]:
        """field -> text (or list of texts for fields several columns fill)."""
        out: dict[str, Any] = {}
        for target, indexes in self.columns.indexes.items():
            for i in indexes:
                raw = cells[i] if i < len(cells) else None
                if raw is None:
                    continue
                text = unescape_cell(raw).strip()
                if not text or text.casefold() in _PLACEHOLDERS:
                    continue
                if looks_like_formula(text):
                    raise RowError(
                        target,
                        "looks like a spreadsheet formula (starts with =, +, - or @); "
                        "refused, never evaluated",
                    )
                if target in ("notes", "segments"):
                    out.setdefault(target, []).append(text)
                elif target not in out:
                    out[target] = text
        return out

    async def prepare(self, sheet_row: SheetRow) -> PreparedRow | Refusal:
        number = sheet_row.number
        if sheet_row.error is not None:
            return Refusal(number, "row", sheet_row.error)
        try:
            found = self._cells(sheet_row.cells)
        except RowError as exc:
            return Refusal(number, exc.field, exc.message, self._raw(sheet_row.cells))
        raw = {k: ("; ".join(v) if isinstance(v, list) else v) for k, v in found.items()}
        try:
            prepared = await self._values(number, found, raw)
        except RowError as exc:
            return Refusal(number, exc.field, exc.message, raw)
        return prepared

    def _raw(self, cells: list[str | None]) -> dict[str, Any]:
        out = {}
        for target, indexes in self.columns.indexes.items():
            texts = [cells[i] for i in indexes if i < len(cells) and cells[i]]
            if texts:
                out[target] = "; ".join(str(t)[:200] for t in texts)
        return out

    async def _values(self, number: int, found: dict[str, Any], raw: dict[str, Any]) -> Any:
        values: dict[str, Any] = {
            k: found.get(k) for k in ("first_name", "last_name", "phone", "email", "postcode")
        }
        if not values["first_name"]:
            raise RowError("first_name", "is empty (a first name is required)")
        if not values["phone"] and not values["email"]:
            raise RowError("phone", "no phone and no e-mail: at least one is required")
        if "language" in found:
            values["language"] = _word(
                "language", found["language"], LANGUAGE_WORDS, "fr, nl or de"
            )
        if "gender" in found:
            values["gender"] = _word(
                "gender", found["gender"], GENDER_WORDS, "female, male, other or undisclosed"
            )
        if "birth_year" in found:
            values["birth_year"] = _birth_year(found["birth_year"])
        if "employment_status" in found:
            values["employment_status"] = _word(
                "employment_status",
                found["employment_status"],
                EMPLOYMENT_WORDS,
                "jobseeker, inactive, employed, self-employed, student or undisclosed",
            )
        if "background" in found:
            values["background"] = _word(
                "background",
                found["background"],
                BACKGROUND_WORDS,
                "belgian, migrant EU, migrant non-EU or undisclosed",
            )
        if "social_assistance" in found:
            values["social_assistance"] = _word(
                "social_assistance", found["social_assistance"], YES_NO_WORDS, "yes or no"
            )
        for name in ("jobs_created", "jobs_kept"):
            if name in found:
                values[name] = _whole_number(name, found[name])
        if "stage" in found:
            values["stage"] = _word("stage", found["stage"], STAGE_WORDS, "e.g. lead, contacted")
        values["source"] = (
            _word("source", found["source"], SOURCE_WORDS, "e.g. event, referral, import")
            if "source" in found
            else self.options.source.value
        )
        if "notes" in found:
            values["notes"] = "\n".join(found["notes"])
        segments = list(self._fixed_segments)
        for text in found.get("segments", []):
            segments += self._segments(_SEGMENT_SPLIT.split(text))
        values["segments"] = sorted(set(segments))
        try:
            model = LeadCreate.model_validate(values)
        except ValidationError as exc:
            error = exc.errors()[0]
            name = ".".join(str(p) for p in error["loc"]) or "row"
            name = name.split(".")[0]
            shown = values.get(name)
            message = str(error["msg"]).removeprefix("Value error, ")
            text = f"{shown!r}: {message}" if shown is not None else message
            raise RowError(name, text) from None
        data = model.model_dump(exclude={"consents"})
        segments_out = data.pop("segments") or []
        try:
            # segments are checked above against the vocabulary read once; no query here
            normalised = await normalise(data)
        except InvalidInput as exc:
            raise RowError(exc.field or "row", exc.message) from None
        if not normalised.get("language") and self.options.default_language:
            normalised["language"] = self.options.default_language.value
        self._check_duplicate(number, normalised)
        return PreparedRow(number, normalised, segments_out, raw)

    def _check_duplicate(self, number: int, values: dict[str, Any]) -> None:
        keys = [f"p:{values['phone']}" if values.get("phone") else None]
        keys.append(f"e:{values['email']}" if values.get("email") else None)
        for key in keys:
            if key and key in self.seen:
                field_name = "phone" if key.startswith("p:") else "email"
                raise RowError(field_name, f"same person as row {self.seen[key]}")
        for key in keys:
            if key:
                self.seen[key] = number
