"""Realistic import files, made the way Belgian offices make them (Excel "CSV" with ';' and a
BOM, accents, national phone formats), built by the tests so every byte is visible here.

`python -m tests.crm.transfer.files DIR` writes them to DIR, to try them by hand."""

from __future__ import annotations

import io
import sys
from datetime import datetime
from pathlib import Path

BOM = "\ufeff"

# Excel (Belgian French locale) "CSV UTF-8": ';', BOM, CRLF.
BELGIAN_ROWS = [
    ["Prénom", "Nom", "GSM", "E-mail", "Code postal", "Langue", "Public", "Remarques"],
    ["Amélie", "Dubois", "0470 12 34 56", "amelie.dubois@example.be", "1060", "Français",
     "Femmes", "Rencontrée au marché du Midi"],
    ["Joris", "Peeters", "+32 471 11 22 33", "", "2000", "NL", "", ""],
    ["Zoë", "Müller", "0032 472 22 33 44", "zoe@example.be", "4700", "", "", "Café à Eupen"],
    ["Inès", "El Amrani", "0473/33.44.55", "INES@Example.BE", "1080", "fr", "Jeunes (-26 ans)", ""],
    ["Bad", "Phone", "0470 12", "", "1000", "fr", "", ""],
    ["Amélie", "Dubois", "0470123456", "", "1060", "", "", "second time in the file"],
    ["Evil", "=cmd|' /C calc'!A0", "0474 00 00 01", "", "", "", "", ""],
    ["Link", "Hyper", "0474 00 00 02", "", "", "", "", "=HYPERLINK(\"http://x.example\",\"clic\")"],
    ["Sum", "At", "0474 00 00 03", "", "", "", "", "@SUM(1+1)*cmd|' /C calc'!A0"],
    ["-", "Dash", "0474 00 00 04", "", "", "", "", ""],
    ["Karim", "-", "0474 00 00 05", "", "", "-", "", "- rappeler lundi"],
    ["Nobody", "Contact", "", "", "1000", "", "", ""],
    ["Lang", "Unknown", "0474 00 00 06", "", "", "klingon", "", ""],
]  # fmt: skip


def belgian_csv(rows: list[list[str]] | None = None) -> bytes:
    text = "\r\n".join(";".join(_quote(c, ";") for c in row) for row in rows or BELGIAN_ROWS)
    return (BOM + text + "\r\n").encode("utf-8")


def _quote(cell: str, delimiter: str) -> str:
    if any(ch in cell for ch in (delimiter, '"', "\n")):
        return '"' + cell.replace('"', '""') + '"'
    return cell


def comma_csv() -> bytes:
    """UTF-8 without BOM, ',' (LibreOffice, Google Sheets), Dutch headers."""
    rows = [
        ["Voornaam", "Achternaam", "Telefoon", "E-mail", "Postcode", "Taal", "Opmerkingen"],
        ["Fien", "Janssens", "0475 10 20 30", "fien@example.be", "9000", "Nederlands",
         "Infosessie, Gent"],
        ["Bram", "Maes", "0475 10 20 31", "", "2060", "", ""],
    ]  # fmt: skip
    return ("\n".join(",".join(_quote(c, ",") for c in row) for row in rows) + "\n").encode()


def cp1252_csv() -> bytes:
    """Excel's plain "CSV" in a Belgian locale: Windows-1252, ';', no BOM."""
    rows = [
        ["Prénom", "Nom", "Téléphone", "Code postal"],
        ["Hélène", "Lefèvre", "0476 11 22 33", "5000"],
        ["François", "Noël", "0476 11 22 34", "7000"],
    ]
    return ("\r\n".join(";".join(row) for row in rows) + "\r\n").encode("cp1252")


def mixed_encoding_csv() -> bytes:
    """Two files pasted together: UTF-8 rows and one Windows-1252 row."""
    good = "Prénom;Nom;GSM\r\nRené;Dupont;0477 00 00 01\r\n".encode()
    bad = "Gaëlle;Lambert;0477 00 00 02\r\n".encode("cp1252")
    tail = "Chloé;Martin;0477 00 00 03\r\n".encode()
    return good + bad + tail


def german_xlsx() -> bytes:
    """An .xlsx from Eupen: phones Excel made numeric, a date of birth, a formula cell."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Teilnehmer"
    sheet.append(["Vorname", "Nachname", "Handy", "PLZ", "Sprache", "Geburtsdatum", "Bemerkung"])
    sheet.append(["Jürgen", "Schmitz", 478123456, 4700, "Deutsch", datetime(1984, 3, 2), "ok"])
    sheet.append(["Anke", "Kohl", "0478 12 34 57", "4780", "de", None, None])
    sheet.append(["Formel", "Zelle", 478123458, 4700, "de", None, "=1+1"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def generated_csv(n: int, *, start: int = 0) -> bytes:
    """n distinct people, ';' with BOM: for batches and resume."""
    lines = ["Prénom;Nom;GSM;Code postal"]
    for i in range(start, start + n):
        lines.append(f"Personne{i};Nom{i};0470 {i // 10000 % 100:02d} {i // 100 % 100:02d} "
                     f"{i % 100:02d};1000")  # fmt: skip
    return (BOM + "\r\n".join(lines) + "\r\n").encode()


FILES = {
    "belgian-excel.csv": belgian_csv,
    "comma-utf8.csv": comma_csv,
    "windows-1252.csv": cp1252_csv,
    "mixed-encodings.csv": mixed_encoding_csv,
    "eupen.xlsx": german_xlsx,
}

if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    target.mkdir(parents=True, exist_ok=True)
    for name, make in FILES.items():
        (target / name).write_bytes(make())
        print(target / name)
