"""What the partner portal (`crm.web.partners`) and the staff referral pages
(`crm.web.referrals`) share: one referral's page (person, consent, history, linked redirects,
feedback) and the forms that move it along its lifecycle.

The rules live in `crm.referrals.service`: these helpers only read forms, hand them to the
service and show its answer (a refused move keeps what was typed and says why)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData
from tortoise.expressions import Case, F, Q, Subquery, When
from tortoise.queryset import QuerySet

from crm.auth.actor import Actor
from crm.config import settings
from crm.errors import DomainError, NotFound
from crm.people import consent_texts
from crm.people.models import Lead
from crm.referrals import service
from crm.referrals.models import (
    PartnerOrganisation,
    Referral,
    ReferralOutcome,
    ReferralReason,
    ReferralStatus,
    ReferralStatusChange,
)
from crm.referrals.schemas import ReferralStatusUpdate
from crm.web.render import PageError, path_id

S = ReferralStatus
# The order the move forms are shown in: the usual next step first, the exits last.
MOVE_ORDER = (S.ACCEPTED, S.IN_PROGRESS, S.COMPLETED, S.REJECTED, S.REDIRECTED, S.CANCELLED)
MOVE_FIELDS = ("status_reason", "reason_code", "outcome", "redirect_to_partner_id")
REASONS = tuple(r.value for r in ReferralReason)
OUTCOMES = tuple(o.value for o in ReferralOutcome)
STATUSES = tuple(s.value for s in ReferralStatus)
# How a person agreed to their details being shared (the referral forms ask it).
CONSENT_METHODS = ("verbal", "written", "signed_form")
_MAX_VALUE = 5000
_MAX_QUERY = 100


# --- reading a list's filters -------------------------------------------------------------------


def one_of(value: str | None, allowed: tuple[str, ...] | set[str]) -> str:
    """A filter's value when it is one the list knows, else nothing (ignored, not an error)."""
    return value if value and value in allowed else ""


def search_text(value: str | None) -> str:
    return (value or "").strip()[:_MAX_QUERY]


def name_search(qs: QuerySet[Referral], q: str) -> QuerySet[Referral]:
    """Referrals whose person's first or last name contains every word typed."""
    words = q.split()[:5]
    if not words:
        return qs
    people = Lead.all()
    for word in words:
        people = people.filter(Q(first_name__icontains=word) | Q(last_name__icontains=word))
    # A subquery rather than a join: the list's ordering names the referral's own columns.
    return qs.filter(lead_id__in=Subquery(people.values("id")))


def waiting_first(qs: QuerySet[Referral], waiting: Q) -> QuerySet[Referral]:
    """The referrals matching `waiting` first (the oldest, so the soonest to expire, first),
    then the others by their last change, newest first."""
    # Text ranks: PostgreSQL types a CASE of bound values only as text. The second key is the
    # id for the waiting ones (typed by the column) and 0 for the others.
    return qs.annotate(
        waiting_rank=Case(When(waiting, then="0"), default="1"),
        waiting_order=Case(When(waiting, then=F("id")), default=0),
    ).order_by("waiting_rank", "waiting_order", "-updated_at", "-id")


async def with_parties(rows: list[Referral]) -> list[Referral]:
    await Referral.fetch_for_list(rows, "lead", "sender", "receiver")
    return rows


def party_name(organisation: PartnerOrganisation | None) -> str:
    # `None` on either side of a referral is our organisation.
    return organisation.name if organisation else settings.ORGANISATION_NAME


def answer_by(referral: Referral) -> datetime | None:
    """When a referral still waiting for its answer expires (shown to whoever must answer)."""
    return referral.expires_at if referral.status == S.REQUESTED else None


# --- the move forms -----------------------------------------------------------------------------


@dataclass
class MoveForm:
    """One move form as typed: shown again, with the error, when the move was refused."""

    status: str = ""
    status_reason: str = ""
    reason_code: str = ""
    outcome: str = ""
    redirect_to_partner_id: str = ""


@dataclass
class MoveError:
    status: str  # the form it belongs to (the target status)
    field: str  # the field it names, or "status" for the move itself
    message: str
    status_code: int


@dataclass
class MoveResult:
    error: MoveError | None = None
    typed: MoveForm = field(default_factory=MoveForm)


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip()[:_MAX_VALUE] if isinstance(value, str) else ""


def read_move(form: FormData) -> MoveForm:
    return MoveForm(
        status=_text(form, "status")[:20],
        **{name: _text(form, name) for name in MOVE_FIELDS},
    )


async def apply_move(referral: Referral, typed: MoveForm, actor: Actor) -> MoveResult:
    """Hand one move form to the service. Bad input and refused moves come back as a MoveError
    (422, 403 or 409, as the API answers them); nothing is changed then."""
    try:
        data = ReferralStatusUpdate(
            status=typed.status,  # type: ignore[arg-type]
            **{name: getattr(typed, name) or None for name in MOVE_FIELDS},
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first.get("loc") else "status"
        return MoveResult(error=MoveError(typed.status, name, first["msg"], 422), typed=typed)
    try:
        await service.change_status(referral, data, actor=actor)
    except DomainError as exc:
        await referral.refresh_from_db()  # the page shows where it stands now
        name = (exc.field or "status").split(".")[0]
        error = MoveError(typed.status, name, exc.message, exc.status_code)
        return MoveResult(error=error, typed=typed)
    return MoveResult(typed=typed)


# --- one referral's page ------------------------------------------------------------------------


async def visible_referral(actor: Actor, raw_id: str) -> Referral:
    try:
        return await service.get_visible_referral(actor, path_id(raw_id))
    except NotFound:
        raise PageError(404) from None


def _consent_text(version_tag: str | None) -> tuple[str, str] | None:
    """The words the person agreed to and their language, when the version is one we know."""
    if not version_tag or not consent_texts.is_known_version(version_tag):
        return None
    version, _, language = version_tag.partition("/")
    return consent_texts.text("share_with_partners", language, version), language


async def _linked(referral: Referral, actor: Actor) -> list[dict[str, Any]]:
    """The referral this one was redirected from, and those it was redirected to: each with
    the organisations on both sides; a link only when the viewer may open it."""
    ids = [referral.redirected_from_id] if referral.redirected_from_id else []  # type: ignore[attr-defined]
    rows = await Referral.filter(Q(id__in=ids) | Q(redirected_from_id=referral.id)).order_by("id")
    await Referral.fetch_for_list(rows, "sender", "receiver")
    visible = set(
        await service.visible_referrals(actor)
        .filter(id__in=[r.id for r in rows])
        .values_list("id", flat=True)
    )
    return [
        {
            "id": row.id,
            "direction": "from" if row.id in ids else "to",
            "sender": party_name(row.sender),
            "receiver": party_name(row.receiver),
            "status": row.status,
            "visible": row.id in visible,
        }
        for row in rows
    ]


async def detail_context(
    referral: Referral,
    actor: Actor,
    *,
    result: MoveResult | None = None,
) -> dict[str, Any]:
    """Everything a referral's page shows, for this viewer."""
    await referral.fetch_related("lead", "sender", "receiver")
    history = await ReferralStatusChange.filter(referral_id=referral.id).order_by("id")
    moves = service.allowed_moves(referral, actor)
    partners = await service.redirect_choices(referral) if S.REDIRECTED in moves else []
    error = result.error if result else None
    typed = result.typed if result and result.error else MoveForm()
    return {
        "referral": referral,
        "lead": referral.lead,
        "sender_name": party_name(referral.sender),
        "receiver_name": party_name(referral.receiver),
        "answer_by": answer_by(referral),
        "consent_text": _consent_text(referral.consent_text_version),
        "history": history,
        "linked": await _linked(referral, actor),
        "moves": [m.value for m in MOVE_ORDER if m in moves],
        "redirect_partners": partners,
        "reasons": REASONS,
        "outcomes": OUTCOMES,
        "error": error,
        "typed": typed,
        "sees_notes": actor.sees_notes or actor.is_partner,
    }


async def lead_referrals(actor: Actor, lead_id: int, *, limit: int = 20) -> list[Referral]:
    """A person's referrals this viewer may see, newest first (the box on the person's page)."""
    rows = (
        await service.visible_referrals(actor)
        .filter(lead_id=lead_id)
        .order_by("-created_at", "-id")
        .limit(limit)
    )
    await Referral.fetch_for_list(list(rows), "sender", "receiver")
    return list(rows)
