"""Field app: log a person met at a stand in under 30 seconds (`/field/log`).

With JavaScript, crm/static/field/app.js sends the form as a `contact` item through the offline
queue. Without it, the form posts here and goes through the same `sync.apply_item`, so both
paths store the same thing once (the form's hidden `client_id`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.datastructures import FormData
from tortoise.expressions import Q

from crm import geo
from crm.config import settings
from crm.enums import Language
from crm.outreach import sync
from crm.outreach.models import Interest, OutreachEvent
from crm.outreach.service import visible_events
from crm.people import consent_texts
from crm.people import segments as segment_vocab
from crm.people.models import Stage
from crm.web import csrf
from crm.web.field.common import FieldUser, render_field
from crm.web.session import WebUser, ui_language

router = APIRouter(include_in_schema=False)

PERSON_LANGUAGES = tuple(language.value for language in Language)
# The person's language under its own name: the person reads it too.
LANGUAGE_NAMES = {"fr": "Français", "nl": "Nederlands", "de": "Deutsch"}
INTEREST_LEVELS = tuple(level.value for level in Interest)
# The session key of the notice shown once on the next field page (no-JS path).
NOTICE_KEY = "field_notice"
_MAX_FIELDS = 200  # a form with many segment chips
_MAX_EVENTS = 20


@dataclass
class LogForm:
    """What the log form shows: empty, pre-filled, or as typed when it was refused."""

    client_id: str = ""
    event_id: int | None = None
    lead_id: int | None = None
    first_name: str = ""
    last_name: str = ""
    phone: str = ""
    language: str = ""
    postcode: str = ""
    segments: list[str] = field(default_factory=list)
    interest: str = ""
    consents: set[str] = field(default_factory=set)
    consent_text_version: str = ""
    notes: str = ""
    # field name in the form → message, and a message for the whole form
    errors: dict[str, str] = field(default_factory=dict)
    form_error: str = ""

    def as_item(self) -> dict[str, Any]:
        """The `contact` item of the sync protocol (crm.outreach.sync)."""
        person: dict[str, Any] = {
            "first_name": self.first_name,
            "last_name": self.last_name or None,
            "phone": self.phone or None,
            "language": self.language or None,
            "postcode": self.postcode or None,
            "segments": self.segments,
        }
        return {
            "type": "contact",
            "client_id": self.client_id,
            "event_id": self.event_id,
            "lead_id": self.lead_id,
            "person": person,
            "interest": self.interest or None,
            # Only ticked consents are sent: an unticked box was not asked, or not answered.
            "consents": [
                {"purpose": str(purpose), "granted": True}
                for purpose in consent_texts.FIELD_PURPOSES
                if str(purpose) in self.consents
            ],
            "consent_text_version": self.consent_text_version or None,
            "notes": self.notes or None,
        }


def _text(form: FormData, name: str, limit: int) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def _int(value: object) -> int | None:
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 10:
        return int(value)
    return None


def _read_form(form: FormData) -> LogForm:
    language = _text(form, "language", 2)
    data = LogForm(
        client_id=_text(form, "client_id", 64),
        event_id=_int(form.get("event_id")),
        lead_id=_int(form.get("lead_id")),
        first_name=_text(form, "first_name", 200),
        last_name=_text(form, "last_name", 200),
        phone=_text(form, "phone", 60),
        language=language if language in PERSON_LANGUAGES else "",
        postcode=_text(form, "postcode", 20),
        segments=[s for s in form.getlist("segments") if isinstance(s, str)][:40],
        interest=_text(form, "interest", 10),
        consents={c for c in form.getlist("consents") if isinstance(c, str)},
        consent_text_version=_text(form, "consent_text_version", 40),
        notes=(form.get("notes") or "")[:6000] if isinstance(form.get("notes"), str) else "",
    )
    if data.interest not in INTEREST_LEVELS:
        data.interest = ""
    # Without JavaScript the page shows the consent texts of the language that is ticked (CSS),
    # so the version recorded is that language's, of the version the page carried.
    version, _, shown = data.consent_text_version.partition("/")
    if data.language and shown != data.language:
        tag = consent_texts.version_tag(data.language, version or consent_texts.CURRENT)
        data.consent_text_version = tag
    return data


# --- events of the day --------------------------------------------------------------------------


def _today_bounds() -> tuple[datetime, datetime]:
    today = datetime.now(settings.tz).date()
    start = datetime.combine(today, time.min, tzinfo=settings.tz)
    return start, start + timedelta(days=1)


async def _events_for(web_user: WebUser, wanted: int | None) -> list[OutreachEvent]:
    """The events the agent may log a contact at: today's (visible to them), and the one the
    page was opened for."""
    start, end = _today_bounds()
    overlapping_today = Q(starts_at__lt=end) & (
        Q(ends_at__gte=start) | (Q(ends_at__isnull=True) & Q(starts_at__gte=start))
    )
    events = (
        await visible_events(web_user.actor)
        .filter(overlapping_today)
        .order_by("starts_at", "id")
        .limit(_MAX_EVENTS)
    )
    if wanted is not None and all(e.id != wanted for e in events):
        extra = await visible_events(web_user.actor).get_or_none(id=wanted)
        if extra is not None:
            events.insert(0, extra)
    return events


async def _default_event(web_user: WebUser, events: list[OutreachEvent]) -> int | None:
    """The agent's own event happening now, else their first one today."""
    if not events:
        return None
    mine = set(
        await OutreachEvent.filter(
            id__in=[e.id for e in events], agents__id=web_user.user.id
        ).values_list("id", flat=True)
    )
    own = [e for e in events if e.id in mine]
    now = datetime.now(settings.tz)
    for event in own:
        if event.starts_at <= now and (event.ends_at is None or now <= event.ends_at):
            return event.id
    return own[0].id if own else None


def _event_language(event: OutreachEvent | None) -> str:
    if event is None:
        return ""
    if event.language:
        return str(event.language)
    if event.postcode:
        try:
            return geo.info_for_postcode(event.postcode).default_language or ""
        except ValueError:
            return ""
    return ""


def _default_language(request: Request, event: OutreachEvent | None) -> str:
    """The chosen event's language, else its region's, else the agent's own if a person's."""
    language = _event_language(event)
    if language:
        return language
    ui = ui_language(request)
    return ui if ui in PERSON_LANGUAGES else ""


def _postcode_languages() -> list[list[Any]]:
    # [first, last, language] for app.js: a postcode typed sets the region's language.
    return [list(row) for row in geo.postcode_languages()]


# --- the page -----------------------------------------------------------------------------------


async def _page_context(
    request: Request, web_user: WebUser, data: LogForm, events: list[OutreachEvent]
) -> dict[str, Any]:
    vocab = await segment_vocab.vocabulary()
    ui = ui_language(request)
    segments = sorted(
        ((code, segment_vocab.label(code, ui, vocab)) for code in vocab),
        key=lambda pair: pair[1].casefold(),
    )
    return {
        "form": data,
        "events": events,
        "event_languages": {e.id: _event_language(e) for e in events},
        "person_languages": [(code, LANGUAGE_NAMES[code]) for code in PERSON_LANGUAGES],
        "segments": segments,
        "interest_levels": INTEREST_LEVELS,
        "purposes": [str(p) for p in consent_texts.FIELD_PURPOSES],
        "consent_texts": consent_texts.texts_for_form(),
        "consent_versions": {code: consent_texts.version_tag(code) for code in PERSON_LANGUAGES},
        "postcode_languages": _postcode_languages(),
        "stages": [s.value for s in Stage],
    }


def _render_log(request: Request, context: dict[str, Any], *, status_code: int = 200) -> Response:
    return render_field(request, "field/log.html", context, section="log", status_code=status_code)


@router.get("/field/log", include_in_schema=False)
async def log_page(request: Request, web_user: FieldUser, event: str | None = None) -> Response:
    wanted = _int(event)
    events = await _events_for(web_user, wanted)
    chosen = wanted if any(e.id == wanted for e in events) else None
    if chosen is None:
        chosen = await _default_event(web_user, events)
    event_row = next((e for e in events if e.id == chosen), None)
    language = _default_language(request, event_row)
    data = LogForm(
        client_id=str(uuid.uuid4()),
        event_id=chosen,
        language=language,
        consent_text_version=consent_texts.version_tag(language) if language else "",
    )
    return _render_log(request, await _page_context(request, web_user, data, events))


# Where a refused item's field is shown in the form.
_FORM_FIELDS = {
    "person.first_name": "first_name",
    "person.last_name": "last_name",
    "person.phone": "phone",
    "person.language": "language",
    "person.postcode": "postcode",
    "person.segments": "segments",
    "lead_id": "phone",
    "event_id": "event_id",
    "interest": "interest",
    "notes": "notes",
    "consents": "consents",
    "consent_text_version": "consents",
}


def _form_field(name: str | None) -> str:
    if not name:
        return ""
    if name in _FORM_FIELDS:
        return _FORM_FIELDS[name]
    head = name.split(".")[0] if not name.startswith("person.") else ".".join(name.split(".")[:2])
    return _FORM_FIELDS.get(head, "")


@router.post("/field/log", include_in_schema=False)
async def log_contact(request: Request, web_user: FieldUser) -> Response:
    """The form without JavaScript: one `contact` item through the same sync service."""
    form = await csrf.checked_form(request, max_fields=_MAX_FIELDS)
    data = _read_form(form)
    result = await sync.apply_item(data.as_item(), actor=web_user.actor)
    if result.done:
        request.session[NOTICE_KEY] = {
            "name": data.first_name,
            "duplicate": result.duplicate,
            "differences": result.differences[:10],
        }
        return RedirectResponse(f"/field/people/{result.lead_id}", status_code=303)
    name = _form_field(result.field)
    if name == "client_id" or not data.client_id:
        # A client_id used for something else (or none): this form gets a fresh one.
        data.client_id = str(uuid.uuid4())
    message = result.detail or ""
    if name and name != "client_id":
        data.errors[name] = message
    else:
        data.form_error = message
    events = await _events_for(web_user, data.event_id)
    context = await _page_context(request, web_user, data, events)
    # "error": the server could not store it this time (nothing stored); else bad input.
    return _render_log(request, context, status_code=503 if result.status == "error" else 422)
