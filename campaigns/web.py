"""The campaign pages: the list, the editor (a tab per language with a live preview), and the
campaign's page with its actions, pre-schedule checks and results (charts drawn as inline SVG
on the server). The story library is `campaigns.web_stories`, included in this router.

Signed in by session (crm.web) for admin, coordinator and marketing; every form carries the
CSRF token, and every rule is the service's own (`campaigns.service` with the signed-in Actor),
so a refused save comes back as the form with what was typed and the problem beside its field.
The live preview is `crm/static/campaigns.js` (no inline script, for the CSP): it posts the
texts as JSON, with the CSRF token in a header, to `POST /campaigns/preview`, which answers
what `POST /api/v1/campaigns/preview` answers. Strings shown to users live in the templates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from babel.dates import format_timedelta
from fastapi import APIRouter, Depends, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from campaigns import service, templating
from campaigns.checks import pre_schedule_checks
from campaigns.models import Campaign, CampaignChannel, CampaignStatus
from campaigns.preview import preview
from campaigns.schedule import AFTER_FIELDS
from campaigns.schemas import CampaignCreate, CampaignUpdate, PreviewIn
from campaigns.stats import campaign_stats
from campaigns.web_editor import (
    _local,
    blank_values,
    payload_of,
    schedule_view,
    values_from,
    values_of,
)
from crm.config import settings
from crm.enums import Language, Role
from crm.errors import DomainError, NotFound
from crm.geo import Region
from crm.outreach.models import EventKind
from crm.people.models import Stage
from crm.people.segments import label as segment_label
from crm.people.segments import vocabulary
from crm.stories.models import SuccessStory
from crm.web.csrf import checked_form as csrf_checked_form
from crm.web.csrf import token_matches
from crm.web.i18n import FORMAT_LOCALES
from crm.web.render import PageError, page_number, paging, render
from crm.web.session import WebUser, require_user, signed_in, ui_language

router = APIRouter(include_in_schema=False)

# Campaigns and stories are marketing's work, with coordinators and admins (as in the API).
ROLES = (Role.ADMIN, Role.COORDINATOR, Role.MARKETING)
LANGS = ("fr", "nl", "de")
PAGE_SIZE = 50
# The editor's checkboxes (segments, stages, regions…) make more fields than crm.web.csrf's
# small-form limit allows.
_MAX_FIELDS = 300
_MAX_TEXT = 10_000
_MAX_PREVIEW_BYTES = 100_000  # three messages of at most 4,000 characters, JSON-escaped
# Audience keys the editor does not show (set through the API): kept as they are on save.
_KEPT_AUDIENCE = ("event_ids", "partner_ids", "agent_ids", "contacted_after", "contacted_before")
ACTIONS = {
    "schedule": service.schedule_campaign,
    "pause": service.pause_campaign,
    "resume": service.resume_campaign,
    "cancel": service.cancel_campaign,
}

SignedIn = Annotated[WebUser, Depends(require_user)]


# ---- shared with the story pages --------------------------------------------------------------


def allowed(web_user: WebUser) -> None:
    if web_user.actor.role not in ROLES:
        raise PageError(403)


async def checked_form(request: Request) -> FormData:
    """The posted form once its CSRF token is proven right (the editor has many checkboxes)."""
    return await csrf_checked_form(request, max_fields=_MAX_FIELDS)


def object_id(raw: str) -> int:
    # Parsed here rather than by FastAPI, so a bad id is an HTML 404 and not a JSON 422.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 10 or not 0 < int(raw) < 2**31:
        raise PageError(404)
    return int(raw)


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def validation_errors(exc: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for err in exc.errors():
        key = ".".join(str(p) for p in err.get("loc", ())) or "form"
        errors.setdefault(key, str(err.get("msg", "invalid")).removeprefix("Value error, "))
    return errors


async def segment_choices(language: str) -> list[tuple[str, str]]:
    vocab = await vocabulary()
    pairs = ((code, segment_label(code, language, vocab)) for code in vocab)
    return sorted(pairs, key=lambda pair: pair[1].casefold())


def today() -> date:
    return datetime.now(settings.tz).date()


# ---- the list ---------------------------------------------------------------------------------


@router.get("/campaigns", include_in_schema=False)
async def campaign_list(request: Request, web_user: SignedIn) -> HTMLResponse:
    allowed(web_user)
    params = request.query_params
    status = params.get("status", "")
    status = status if status in {s.value for s in CampaignStatus} else ""
    qs = Campaign.filter(status=status) if status else Campaign.all()
    total = await qs.count()
    pager = paging(
        total,
        page_number(params.get("page")),
        PAGE_SIZE,
        "/campaigns",
        {"status": status},
        clamp=False,
    )
    found = await qs.order_by("-id").offset(pager.offset).limit(pager.limit)
    rows = [
        {"c": c, "schedule": schedule_view(c.schedule), "stats": await campaign_stats(c)}
        for c in found
    ]

    return render(
        request,
        "campaigns/list.html",
        {
            "rows": rows,
            "total": total,
            "status": status,
            "statuses": [s.value for s in CampaignStatus],
            **pager.template_vars(),
        },
    )


async def _editor(
    request: Request,
    values: dict[str, Any],
    *,
    campaign: Campaign | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    errors = errors or {}
    language = ui_language(request)
    stories = list(
        await SuccessStory.filter(active=True, consent_expires_at__gte=today()).order_by("title")
    )
    chosen = values.get("story_id")
    if chosen and chosen.isdigit() and all(str(s.id) != chosen for s in stories):
        current = await SuccessStory.get_or_none(id=int(chosen))
        if current is not None:
            stories.append(current)  # the campaign's own story, even when no longer usable
    # Each tab shows all the problems of its language (the service names only the first).
    problems = {
        lang: templating.check_message(lang, values["messages"][lang])
        if values["messages"][lang]
        else []
        for lang in LANGS
    }
    # The preview as it stands, so the page shows it without script too.
    shown = {}
    if any(values["messages"].values()):
        channel = values["channel"] if values["channel"] in {"sms", "telegram"} else "sms"
        try:
            shown = (await preview(PreviewIn(messages=values["messages"], channel=channel)))[
                "languages"
            ]
        except (ValidationError, DomainError):
            shown = {}
    first_problem = next((lang for lang in LANGS if problems[lang]), None)
    return render(
        request,
        "campaigns/form.html",
        {
            "campaign": campaign,
            "v": values,
            "errors": errors,
            "problems": problems,
            "preview": shown,
            "active_tab": first_problem or values["default_language"] or "fr",
            "langs": LANGS,
            "channels": [c.value for c in CampaignChannel],
            "languages": [lang.value for lang in Language],
            "segments": await segment_choices(language),
            "stages": [s.value for s in Stage],
            "regions": [r.value for r in Region],
            "event_kinds": [k.value for k in EventKind],
            "after_fields": list(AFTER_FIELDS),
            "stories": stories,
            "today": today(),
            "variables": templating.VARIABLE_HELP,
        },
        status_code=status_code,
    )


async def _save(request: Request, web_user: WebUser, campaign: Campaign | None) -> Response:
    values = values_from(await checked_form(request))
    errors: dict[str, str] = {}
    payload = payload_of(values, errors)
    if campaign is not None:
        kept = {k: v for k, v in (campaign.audience or {}).items() if k in _KEPT_AUDIENCE}
        payload["audience"] = {**kept, **payload["audience"]}
    status_code = 422
    if not errors:
        try:
            if campaign is None:
                saved = await service.create_campaign(
                    CampaignCreate.model_validate(payload), actor=web_user.actor
                )
            else:
                saved = await service.update_campaign(
                    campaign, CampaignUpdate.model_validate(payload), actor=web_user.actor
                )
            return redirect(f"/campaigns/{saved.id}?done=saved")
        except ValidationError as exc:
            errors = validation_errors(exc)
        except DomainError as exc:
            errors = {exc.field or "form": exc.message}
            status_code = exc.status_code
    return await _editor(request, values, campaign=campaign, errors=errors, status_code=status_code)


async def _campaign(raw_id: str) -> Campaign:
    try:
        return await service.get_campaign(object_id(raw_id))
    except NotFound:
        raise PageError(404) from None


@router.get("/campaigns/new", include_in_schema=False)
async def new_campaign(request: Request, web_user: SignedIn) -> HTMLResponse:
    allowed(web_user)
    return await _editor(request, blank_values())


@router.post("/campaigns/new", include_in_schema=False)
async def create_campaign(request: Request, web_user: SignedIn) -> Response:
    allowed(web_user)
    return await _save(request, web_user, None)


@router.get("/campaigns/{campaign_id}/edit", include_in_schema=False)
async def edit_campaign(request: Request, campaign_id: str, web_user: SignedIn) -> HTMLResponse:
    allowed(web_user)
    campaign = await _campaign(campaign_id)
    return await _editor(request, values_of(campaign), campaign=campaign)


@router.post("/campaigns/{campaign_id}/edit", include_in_schema=False)
async def update_campaign(request: Request, campaign_id: str, web_user: SignedIn) -> Response:
    allowed(web_user)
    return await _save(request, web_user, await _campaign(campaign_id))


@router.post("/campaigns/preview", include_in_schema=False)
async def preview_messages(request: Request) -> JSONResponse:
    """The editor's live preview: POST /api/v1/campaigns/preview's answer, for the session."""
    web_user = await signed_in(request)
    if web_user is None:
        return JSONResponse({"detail": "sign in first"}, status_code=401)
    if web_user.actor.role not in ROLES:
        return JSONResponse({"detail": "your role may not do this"}, status_code=403)
    if not token_matches(request, request.headers.get("x-csrf-token")):
        return JSONResponse({"detail": "missing or wrong X-CSRF-Token header"}, status_code=403)
    body = await request.body()
    if len(body) > _MAX_PREVIEW_BYTES:
        return JSONResponse({"detail": "the texts are too long to preview"}, status_code=413)
    try:
        data = PreviewIn.model_validate_json(body)
        return JSONResponse(jsonable_encoder(await preview(data)))
    except ValidationError as exc:
        detail = [{"field": k, "msg": m} for k, m in validation_errors(exc).items()]
        return JSONResponse({"detail": detail}, status_code=422)
    except DomainError as exc:
        return JSONResponse({"detail": exc.detail()}, status_code=exc.status_code)


# ---- one campaign -----------------------------------------------------------------------------


def bars(pairs: list[tuple[str, int]]) -> list[dict[str, Any]]:
    """Rows of a horizontal bar chart: each bar's length in per cent of the largest."""
    top = max((n for _, n in pairs), default=0) or 1
    return [{"key": key, "n": n, "pct": round(100 * n / top, 1)} for key, n in pairs]


def duration(seconds: float, language: str) -> str | None:
    if seconds < 1:
        return None  # the template says "less than a second"
    return format_timedelta(
        timedelta(seconds=seconds), threshold=1.5, locale=FORMAT_LOCALES[language]
    )


async def _page(
    request: Request,
    campaign: Campaign,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    language = ui_language(request)
    status = CampaignStatus(campaign.status)
    checks, checks_error = None, None
    if status in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.PAUSED):
        try:
            checks = await pre_schedule_checks(campaign, at=datetime.now(UTC))
        except DomainError as exc:
            checks_error = exc.message
    stats = await campaign_stats(campaign)
    story_id = campaign.story_id  # type: ignore[attr-defined]
    vocab = await vocabulary()
    funnel = [
        (key, stats[key])
        for key in ("audience", "queued", "sent", "delivered", "replied", "conversions")
    ]
    done = request.query_params.get("done", "")
    return render(
        request,
        "campaigns/detail.html",
        {
            "campaign": campaign,
            "status": status.value,
            "schedule": schedule_view(campaign.schedule),
            "warnings": checks["warnings"] if checks else await service.warnings(campaign),
            "story": await SuccessStory.get_or_none(id=story_id) if story_id else None,
            "audience": campaign.audience or {},
            "audience_dates": {
                key: _local((campaign.audience or {}).get(key))
                for key in ("created_after", "created_before")
            },
            "segment_names": {code: segment_label(code, language, vocab) for code in vocab},
            "checks": checks,
            "checks_error": checks_error,
            "expected": duration(checks["expected_seconds"], language) if checks else None,
            "stats": stats,
            "funnel": bars(funnel),
            "skips": bars(sorted(stats["skipped_reasons"].items(), key=lambda kv: -kv[1])),
            "can_edit": status in service.EDITABLE,
            "can_schedule": status == CampaignStatus.DRAFT,
            "can_pause": status in (CampaignStatus.SCHEDULED, CampaignStatus.RUNNING),
            "can_resume": status == CampaignStatus.PAUSED,
            "can_cancel": status not in (CampaignStatus.COMPLETED, CampaignStatus.CANCELLED),
            "done": done if done in {"saved", *ACTIONS} and not error else "",
            "error": error,
        },
        status_code=status_code,
    )


@router.get("/campaigns/{campaign_id}", include_in_schema=False)
async def campaign_page(request: Request, campaign_id: str, web_user: SignedIn) -> HTMLResponse:
    allowed(web_user)
    return await _page(request, await _campaign(campaign_id))


@router.post("/campaigns/{campaign_id}/{action}", include_in_schema=False)
async def campaign_action(
    request: Request, campaign_id: str, action: str, web_user: SignedIn
) -> Response:
    allowed(web_user)
    if action not in ACTIONS:
        raise PageError(404)
    await checked_form(request)
    campaign = await _campaign(campaign_id)
    try:
        await ACTIONS[action](campaign, actor=web_user.actor)
    except DomainError as exc:
        await campaign.refresh_from_db()
        return await _page(request, campaign, error=exc.message, status_code=exc.status_code)
    return redirect(f"/campaigns/{campaign.id}?done={action}")


def _include_story_pages() -> None:
    from campaigns.web_stories import router as stories_router

    router.include_router(stories_router, include_in_schema=False)


_include_story_pages()
