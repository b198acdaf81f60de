"""The success-story library: the list (with consent ending soon or ended), and the form that
creates or changes a story with its translations. Same rules as the API (`crm.stories.service`
with the signed-in Actor); a refused save shows the form again with what was typed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from campaigns.web import (
    LANGS,
    PAGE_SIZE,
    SignedIn,
    allowed,
    checked_form,
    object_id,
    redirect,
    segment_choices,
    today,
    validation_errors,
)
from campaigns.web_editor import list_of, text_of
from crm.config import settings
from crm.errors import DomainError
from crm.stories import service
from crm.stories.models import SuccessStory
from crm.stories.schemas import StoryCreate, StoryUpdate
from crm.web.render import PageError, page_number, paging, render
from crm.web.session import WebUser, ui_language

router = APIRouter(include_in_schema=False)


def consent_state(story: SuccessStory) -> str:
    """ "expired", "ending" (within STORY_EXPIRY_WARNING_DAYS) or "valid"."""
    day = today()
    if story.consent_expires_at < day:
        return "expired"
    if story.consent_expires_at <= day + timedelta(days=settings.STORY_EXPIRY_WARNING_DAYS):
        return "ending"
    return "valid"


@router.get("/stories", include_in_schema=False)
async def story_list(request: Request, web_user: SignedIn) -> HTMLResponse:
    allowed(web_user)
    total = await SuccessStory.all().count()
    pager = paging(
        total, page_number(request.query_params.get("page")), PAGE_SIZE, "/stories", clamp=False
    )
    found = await SuccessStory.all().order_by("-id").offset(pager.offset).limit(pager.limit)
    return render(
        request,
        "stories/list.html",
        {
            "rows": [
                {
                    "s": s,
                    "languages": [lang for lang in LANGS if s.texts.get(lang)],
                    "consent": consent_state(s),
                }
                for s in found
            ],
            "total": total,
            "warning_days": settings.STORY_EXPIRY_WARNING_DAYS,
            "saved": request.query_params.get("saved", ""),
            **pager.template_vars(),
        },
    )


def _blank() -> dict[str, Any]:
    return {
        "title": "", "entrepreneur": "", "sector": "", "town": "", "segments": [],
        "consent_expires_at": "", "active": True, "texts": dict.fromkeys(LANGS, ""),
    }  # fmt: skip


def _values_of(story: SuccessStory) -> dict[str, Any]:
    return {
        "title": story.title, "entrepreneur": story.entrepreneur_first_name,
        "sector": story.sector or "", "town": story.town or "", "segments": story.segments,
        "consent_expires_at": story.consent_expires_at.isoformat(), "active": story.active,
        "texts": {lang: story.texts.get(lang, "") for lang in LANGS},
    }  # fmt: skip


async def _form(
    request: Request,
    values: dict[str, Any],
    *,
    story: SuccessStory | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    errors = errors or {}
    first_error = next((lang for lang in LANGS if f"texts.{lang}" in errors), None)
    return render(
        request,
        "stories/form.html",
        {
            "story": story,
            "v": values,
            "errors": errors,
            "langs": LANGS,
            "active_tab": first_error
            or next((lang for lang in LANGS if values["texts"][lang]), "fr"),
            "segments": await segment_choices(ui_language(request)),
            "consent": consent_state(story) if story else None,
            "warning_days": settings.STORY_EXPIRY_WARNING_DAYS,
        },
        status_code=status_code,
    )


async def _save(request: Request, web_user: WebUser, story: SuccessStory | None) -> Response:
    form = await checked_form(request)
    values = {
        "title": text_of(form, "title", 300),
        "entrepreneur": text_of(form, "entrepreneur", 200),
        "sector": text_of(form, "sector", 200),
        "town": text_of(form, "town", 200),
        "segments": list_of(form, "segments"),
        "consent_expires_at": text_of(form, "consent_expires_at", 20),
        "active": form.get("active") == "1",
        "texts": {lang: text_of(form, f"text_{lang}", 4000) for lang in LANGS},
    }
    payload = {
        **values,
        "sector": values["sector"] or None,
        "town": values["town"] or None,
        "consent_expires_at": values["consent_expires_at"] or None,
        "texts": {lang: text or None for lang, text in values["texts"].items()},
    }
    try:
        if story is None:
            story = await service.create_story(
                StoryCreate.model_validate(payload), actor=web_user.actor
            )
        else:
            story = await service.update_story(
                story, StoryUpdate.model_validate(payload), actor=web_user.actor
            )
    except ValidationError as exc:
        errors = validation_errors(exc)
    except DomainError as exc:
        errors = {exc.field or "form": exc.message}
    else:
        return redirect(f"/stories?saved={story.id}")
    return await _form(request, values, story=story, errors=errors, status_code=422)


async def _story(raw_id: str) -> SuccessStory:
    story = await SuccessStory.get_or_none(id=object_id(raw_id))
    if story is None:
        raise PageError(404)
    return story


@router.get("/stories/new", include_in_schema=False)
async def new_story(request: Request, web_user: SignedIn) -> HTMLResponse:
    allowed(web_user)
    return await _form(request, _blank())


@router.post("/stories/new", include_in_schema=False)
async def create_story(request: Request, web_user: SignedIn) -> Response:
    allowed(web_user)
    return await _save(request, web_user, None)


@router.get("/stories/{story_id}/edit", include_in_schema=False)
async def edit_story(request: Request, story_id: str, web_user: SignedIn) -> HTMLResponse:
    allowed(web_user)
    story = await _story(story_id)
    return await _form(request, _values_of(story), story=story)


@router.post("/stories/{story_id}/edit", include_in_schema=False)
async def update_story(request: Request, story_id: str, web_user: SignedIn) -> Response:
    allowed(web_user)
    return await _save(request, web_user, await _story(story_id))
