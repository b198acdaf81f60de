"""Field app: the agent's outreach events (`/field/events`), a phone form to create or change
one, the stand page shown to prospects (QR codes of the Telegram link and of the SMS keyword)
and the event's tally.

The rules are the outreach service's (`crm.outreach.service`, `crm.outreach.field_events`);
these routes read the form, call them and shape the page. QR codes are drawn here as inline
SVG by segno (no script, no outside service; the CSP allows no inline style, so the SVG uses
attributes and classes only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import segno
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from pydantic import ValidationError
from starlette.datastructures import FormData

from crm import geo
from crm.config import settings
from crm.enums import Language
from crm.errors import InvalidInput, NotFound
from crm.outreach import field_events, service
from crm.outreach.keywords import keyword_issue, normalise_keyword
from crm.outreach.models import EventKind, OutreachEvent
from crm.outreach.schemas import EventCreate, EventUpdate
from crm.web.csrf import checked_form
from crm.web.field.common import FieldUser, render_field
from crm.web.i18n import format_phone
from crm.web.labels import N_
from crm.web.render import PageError, path_id
from crm.web.session import WebUser, ui_language

router = APIRouter(include_in_schema=False)

KIND_LABELS: dict[str, str] = {
    EventKind.MARKET_STAND: N_("Market stand"),
    EventKind.SHOP_VISIT: N_("Shop visit"),
    EventKind.FREE_COFFEE: N_("Free coffee"),
    EventKind.INFO_SESSION: N_("Info session"),
    EventKind.PARTNER_SESSION: N_("Session at a partner"),
    EventKind.COMMUNITY_EVENT: N_("Community event"),
    EventKind.OTHER: N_("Other"),
}
PERSON_LANGUAGES = tuple(language.value for language in Language)
# The languages under their own names: the prospect reads them too.
LANGUAGE_NAMES = {"fr": "Français", "nl": "Nederlands", "de": "Deutsch"}
DEFAULT_STAND_LANGUAGE = "fr"
_LOCAL_INPUT = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> sends and shows
_YEARS = (2000, 2100)
_LIMITS = {"title": 200, "place": 200, "postcode": 10, "keyword": 40, "notes": 5000}

# What the stand page says to a prospect, in the event's language (the other two smaller
# underneath). These are words for the people we reach, like channels/texts.py, not the
# staff UI's catalogue: they follow the event, not the agent's screen language.
STAND_TEXTS: dict[str, dict[str, str]] = {
    "headline": {
        "fr": "Vous avez une idée d'entreprise ?",
        "nl": "Heeft u een idee voor een eigen zaak?",
        "de": "Haben Sie eine Geschäftsidee?",
    },
    "offer": {
        "fr": "Microcrédit et accompagnement gratuit pour lancer votre projet.",
        "nl": "Microkrediet en gratis begeleiding om uw project te starten.",
        "de": "Mikrokredit und kostenlose Begleitung für den Start Ihres Projekts.",
    },
    "telegram": {
        "fr": "Scannez ce code pour nous écrire sur Telegram.",
        "nl": "Scan deze code om ons te schrijven via Telegram.",
        "de": "Scannen Sie diesen Code, um uns über Telegram zu schreiben.",
    },
    "sms": {
        "fr": "Pour recevoir nos nouvelles par SMS, envoyez {keyword} au {number}.",
        "nl": "Wilt u ons nieuws per sms? Stuur {keyword} naar {number}.",
        "de": "Unsere Neuigkeiten per SMS: Senden Sie {keyword} an {number}.",
    },
    "stop": {
        "fr": "Envoyez STOP à tout moment pour ne plus rien recevoir.",
        "nl": "Stuur op elk moment STOP om niets meer te ontvangen.",
        "de": "Senden Sie jederzeit STOP, um nichts mehr zu erhalten.",
    },
}


# --- shared -------------------------------------------------------------------------------------


def _gettext(request: Request) -> Any:
    language = ui_language(request)
    return lambda message: request.app.state.web_i18n.gettext(language, message)


def _kind_labels(request: Request) -> dict[str, str]:
    gettext = _gettext(request)
    return {kind: gettext(message) for kind, message in KIND_LABELS.items()}


async def _visible_event(web_user: WebUser, raw_id: str) -> OutreachEvent:
    try:
        return await service.get_visible_event(web_user.actor, path_id(raw_id))
    except NotFound:
        raise PageError(404) from None


def stand_language(event: OutreachEvent) -> str:
    """The language the stand speaks: the event's, else its region's, else French."""
    if event.language:
        return str(event.language)
    if event.postcode:
        try:
            language = geo.info_for_postcode(event.postcode).default_language
        except ValueError:
            language = None
        if language:
            return language
    return DEFAULT_STAND_LANGUAGE


def qr_svg(content: str, *, title: str) -> Markup:
    """`content` as a QR code in inline SVG, sized by CSS (no width or height of its own)."""
    code = segno.make(content, error="m")
    svg = code.svg_inline(
        omitsize=True, svgclass="qr", lineclass="qr-dark", light="#fff", title=title
    )
    return Markup(svg)  # segno writes the SVG and escapes the title


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# --- the list -----------------------------------------------------------------------------------


@router.get("/field/events", include_in_schema=False)
async def event_list(request: Request, web_user: FieldUser) -> HTMLResponse:
    day = field_events.local_today()
    periods = await field_events.events_by_period(web_user.actor, today=day)
    return render_field(
        request,
        "field/events_list.html",
        {"day": day, "periods": periods, "kind_labels": _kind_labels(request)},
        section="events",
    )


# --- the form -----------------------------------------------------------------------------------


@dataclass
class FormError:
    """A message code the template words in the page's language; `detail` fills it in (or is
    shown as it is for a code the template does not know)."""

    code: str
    detail: str = ""


@dataclass
class EventForm:
    """What the event form shows: empty, the stored event, or as typed when it was refused."""

    kind: str = EventKind.MARKET_STAND.value
    title: str = ""
    starts_at: str = ""
    ends_at: str = ""
    place: str = ""
    postcode: str = ""
    language: str = ""
    keyword: str = ""
    notes: str = ""
    errors: dict[str, FormError] = field(default_factory=dict)

    @classmethod
    def of(cls, event: OutreachEvent) -> EventForm:
        return cls(
            kind=str(event.kind),
            title=event.title,
            starts_at=_local_input(event.starts_at),
            ends_at=_local_input(event.ends_at),
            place=event.place or "",
            postcode=event.postcode or "",
            language=str(event.language or ""),
            keyword=event.keyword or "",
            notes=event.notes or "",
        )

    @classmethod
    def read(cls, form: FormData) -> EventForm:
        def text(name: str) -> str:
            value = form.get(name)
            return value.strip()[: _LIMITS.get(name, 40)] if isinstance(value, str) else ""

        notes = form.get("notes")
        return cls(
            kind=text("kind"),
            title=text("title"),
            starts_at=text("starts_at"),
            ends_at=text("ends_at"),
            place=text("place"),
            postcode=text("postcode"),
            language=text("language"),
            keyword=text("keyword"),
            notes=notes[: _LIMITS["notes"]] if isinstance(notes, str) else "",
        )

    def values(self) -> dict[str, Any] | None:
        """The event's fields for the service, or None with `errors` filled in."""
        if self.kind not in {kind.value for kind in EventKind}:
            self.errors["kind"] = FormError("choose")
        if not self.title:
            self.errors["title"] = FormError("required")
        starts = _parse_local(self.starts_at)
        if starts is None:
            self.errors["starts_at"] = FormError("required" if not self.starts_at else "datetime")
        ends = _parse_local(self.ends_at) if self.ends_at else None
        if self.ends_at and ends is None:
            self.errors["ends_at"] = FormError("datetime")
        elif starts and ends and ends < starts:
            self.errors["ends_at"] = FormError("ends_before")
        if self.language and self.language not in PERSON_LANGUAGES:
            self.errors["language"] = FormError("choose")
        if self.keyword:
            issue = keyword_issue(normalise_keyword(self.keyword))
            if issue:
                self.errors["keyword"] = FormError(f"keyword_{issue}", self.keyword)
        if self.errors:
            return None
        return {
            "kind": self.kind,
            "title": self.title,
            "starts_at": starts,
            "ends_at": ends,
            "place": self.place or None,
            "postcode": self.postcode or None,
            "language": self.language or None,
            "keyword": self.keyword or None,
            "notes": self.notes if self.notes.strip() else None,
        }

    def refused(self, exc: InvalidInput | ValidationError) -> None:
        """Show what the service (or the schema) refused next to its field."""
        if isinstance(exc, InvalidInput):
            name = exc.field if exc.field in _FIELD_NAMES else "form"
            code = {"keyword": "keyword_taken", "postcode": "postcode"}.get(name, "service")
            self.errors[name] = FormError(code, self.keyword if name == "keyword" else exc.message)
            return
        for error in exc.errors():
            loc = [str(part) for part in error.get("loc", ())]
            name = loc[0] if loc and loc[0] in _FIELD_NAMES else "form"
            self.errors.setdefault(name, FormError("service", str(error.get("msg", ""))))


_FIELD_NAMES = {f for f in EventForm.__dataclass_fields__ if f != "errors"}


def _local_input(value: datetime | None) -> str:
    return value.astimezone(settings.tz).strftime(_LOCAL_INPUT) if value else ""


def _parse_local(raw: str) -> datetime | None:
    """A local date and time as a phone sends it ("2026-11-29T08:00", also with a space or
    seconds); None when it is not one."""
    if not raw or len(raw) > 32:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        return None
    if not _YEARS[0] <= value.year <= _YEARS[1]:
        return None  # a slip of the thumb (year 0001 would not even convert to UTC)
    return value if value.tzinfo else value.replace(tzinfo=settings.tz)


def _new_form() -> EventForm:
    # The next full hour: most events are logged just before they start.
    start = datetime.now(settings.tz).replace(minute=0, second=0, microsecond=0)
    return EventForm(starts_at=(start + timedelta(hours=1)).strftime(_LOCAL_INPUT))


def _render_form(
    request: Request,
    form: EventForm,
    *,
    event: OutreachEvent | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render_field(
        request,
        "field/event_form.html",
        {
            "form": form,
            "event": event,
            "kinds": list(_kind_labels(request).items()),
            "languages": [(code, LANGUAGE_NAMES[code]) for code in PERSON_LANGUAGES],
        },
        section="events",
        status_code=status_code,
    )


@router.get("/field/events/new", include_in_schema=False)
async def new_event_page(request: Request, web_user: FieldUser) -> HTMLResponse:
    return _render_form(request, _new_form())


@router.post("/field/events/new", include_in_schema=False)
async def create_event(request: Request, web_user: FieldUser) -> Response:
    form = EventForm.read(await checked_form(request))
    values = form.values()
    if values is not None:
        try:
            event = await service.create_event(EventCreate(**values), actor=web_user.actor)
        except (InvalidInput, ValidationError) as exc:
            form.refused(exc)
        else:
            return _redirect(f"/field/events/{event.id}")
    return _render_form(request, form, status_code=422)


@router.get("/field/events/{event_id}/edit", include_in_schema=False)
async def edit_event_page(request: Request, event_id: str, web_user: FieldUser) -> HTMLResponse:
    event = await _visible_event(web_user, event_id)
    return _render_form(request, EventForm.of(event), event=event)


@router.post("/field/events/{event_id}/edit", include_in_schema=False)
async def update_event(request: Request, event_id: str, web_user: FieldUser) -> Response:
    event = await _visible_event(web_user, event_id)
    form = EventForm.read(await checked_form(request))
    values = form.values()
    if values is not None:
        try:
            changed = await service.update_event(event, EventUpdate(**values), actor=web_user.actor)
            if changed.keyword is None:
                # Left empty, as on creation: one is made from the (maybe new) title.
                await service.give_generated_keyword(changed, actor=web_user.actor)
        except (InvalidInput, ValidationError) as exc:
            form.refused(exc)
        else:
            return _redirect(f"/field/events/{event.id}")
    await event.refresh_from_db()  # the page's title shows the stored event, not the typing
    return _render_form(request, form, event=event, status_code=422)


# --- the stand page -----------------------------------------------------------------------------


@router.get("/field/events/{event_id}/stand", include_in_schema=False)
async def stand_page(request: Request, event_id: str, web_user: FieldUser) -> HTMLResponse:
    event = await _visible_event(web_user, event_id)
    gettext = _gettext(request)
    language = stand_language(event)
    telegram = service.telegram_link(event.id)
    number = settings.sms_public_number
    sms_uri = f"sms:{number}?body={event.keyword}" if number and event.keyword else None
    others = [code for code in PERSON_LANGUAGES if code != language]
    return render_field(
        request,
        "field/event_stand.html",
        {
            "event": event,
            "language": language,
            "others": others,
            "texts": {
                code: {key: texts[code] for key, texts in STAND_TEXTS.items()}
                for code in PERSON_LANGUAGES
            },
            "telegram_link": telegram,
            "telegram_qr": qr_svg(telegram, title=gettext("QR code of the Telegram link"))
            if telegram
            else None,
            "sms_number": number,
            # Written in the sentences without a line break inside the number.
            "sms_number_inline": format_phone(number).replace(" ", "\u00a0") if number else "",
            "sms_uri": sms_uri,
            "sms_qr": qr_svg(sms_uri, title=gettext("QR code to send the keyword by SMS"))
            if sms_uri
            else None,
        },
        section="events",
    )


# --- the tally ----------------------------------------------------------------------------------


@router.get("/field/events/{event_id}", include_in_schema=False)
async def tally_page(request: Request, event_id: str, web_user: FieldUser) -> HTMLResponse:
    event = await _visible_event(web_user, event_id)
    tally = await field_events.event_tally(event, actor=web_user.actor)
    return render_field(
        request,
        "field/event_tally.html",
        {
            "event": event,
            "tally": tally,
            "kind_labels": _kind_labels(request),
            "purposes": list(tally.consents),
        },
        section="events",
    )
