"""UI languages: translations read from the .po files at start-up, one Jinja2 environment per
language, Accept-Language negotiation and locale-aware dates.

The .po files are the only source: they are compiled in memory (read_po → write_mo →
GNUTranslations), so no .mo file is built or committed."""

from __future__ import annotations

import gettext
from collections.abc import Callable
from datetime import date, datetime
from io import BytesIO
from pathlib import Path

import jinja2
import phonenumbers
from babel import negotiate_locale
from babel.dates import format_date, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

import crm
from crm.config import settings
from crm.enums import UI_LANGUAGES
from crm.web.labels import LABELS

DEFAULT_LANGUAGE = "fr"
DOMAIN = "messages"
LOCALES_DIR = Path(crm.__file__).resolve().parent / "locales"
TEMPLATES_DIR = Path(crm.__file__).resolve().parents[1] / "templates"
# Dates are written the Belgian way in each language (babel's xx_BE locales).
FORMAT_LOCALES = {"fr": "fr_BE", "nl": "nl_BE", "de": "de_BE", "en": "en_BE"}
_MAX_ACCEPT_LANGUAGE_ITEMS = 20


def po_path(language: str) -> Path:
    return LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def load_translations(language: str) -> gettext.GNUTranslations:
    """Compile one language's .po file in memory (fuzzy entries are left out)."""
    with po_path(language).open("rb") as fh:
        catalog = read_po(fh, locale=language, domain=DOMAIN)
    buffer = BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def label_for(translations: gettext.NullTranslations) -> Callable[[str, object], str]:
    def label(kind: str, code: object) -> str:
        if code is None or code == "":
            return ""
        key = str(code)
        message = LABELS.get(kind, {}).get(key)
        return translations.gettext(message) if message else key

    return label


def _formatters(language: str) -> dict[str, Callable[..., str]]:
    locale = FORMAT_LOCALES[language]

    def fmt_datetime(value: datetime | None, format: str = "medium") -> str:  # noqa: A002
        # The date in words, the time without seconds: "23 nov. 2026 · 14:05".
        if value is None:
            return ""
        local = value.astimezone(settings.tz)
        day = format_date(local.date(), format, locale=locale)
        return f"{day} · {format_time(local.time(), 'short', locale=locale)}"

    def fmt_date(value: date | datetime | None, format: str = "medium") -> str:  # noqa: A002
        if value is None:
            return ""
        if isinstance(value, datetime):
            value = value.astimezone(settings.tz).date()
        return format_date(value, format, locale=locale)

    return {"datetime": fmt_datetime, "date": fmt_date}


def format_phone(value: str | None) -> str:
    """An E.164 number written for reading: +32 470 12 34 56."""
    if not value:
        return ""
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        return value
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def build_environment(
    language: str, translations: gettext.NullTranslations, templates_dir: Path = TEMPLATES_DIR
) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
    env.globals["lang"] = language
    env.globals["label"] = label_for(translations)
    env.filters.update(_formatters(language), phone=format_phone)
    return env


class WebI18n:
    """The translations and template environments of every UI language, built once."""

    def __init__(self, templates_dir: Path = TEMPLATES_DIR) -> None:
        self.translations = {lang: load_translations(lang) for lang in UI_LANGUAGES}
        self.environments = {
            lang: build_environment(lang, self.translations[lang], templates_dir)
            for lang in UI_LANGUAGES
        }

    def environment(self, language: str) -> jinja2.Environment:
        return self.environments.get(language) or self.environments[DEFAULT_LANGUAGE]

    def gettext(self, language: str, message: str) -> str:
        return self.translations.get(language, self.translations[DEFAULT_LANGUAGE]).gettext(message)


def parse_accept_language(header: str | None) -> list[str]:
    """Language tags of an Accept-Language header, preferred first (q=0 and `*` dropped)."""
    if not header:
        return []
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")[:_MAX_ACCEPT_LANGUAGE_ITEMS]):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                quality = 0.0
        if tag and tag != "*" and quality > 0:
            weighted.append((-quality, position, tag))
    return [tag for _, _, tag in sorted(weighted)]


def negotiate(header: str | None) -> str | None:
    """The best UI language for an Accept-Language header, or None if none fits."""
    preferred = parse_accept_language(header)
    if not preferred:
        return None
    found = negotiate_locale(preferred, list(UI_LANGUAGES), sep="-")
    return found if found in UI_LANGUAGES else None


def is_ui_language(value: object) -> bool:
    return isinstance(value, str) and value in UI_LANGUAGES
