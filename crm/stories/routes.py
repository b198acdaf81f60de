from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from crm.auth.deps import StaffActor, StoryEditor
from crm.errors import NotFound
from crm.schemas import Page, PageParams, page_params
from crm.stories import service
from crm.stories.models import SuccessStory
from crm.stories.schemas import StoryCreate, StoryOut, StoryUpdate

router = APIRouter(prefix="/api/v1", tags=["stories"])

Id = Annotated[int, Path(ge=1, le=2**31 - 1)]


def present(story: SuccessStory) -> StoryOut:
    return StoryOut(
        id=story.id,
        title=story.title,
        entrepreneur=story.entrepreneur_first_name,
        sector=story.sector,
        town=story.town,
        texts=story.texts,
        segments=story.segments,
        consent_expires_at=story.consent_expires_at,
        consent_valid=service.consent_valid(story),
        active=story.active,
        created_at=story.created_at,
        updated_at=story.updated_at,
    )


async def _get(story_id: int) -> SuccessStory:
    story = await SuccessStory.get_or_none(id=story_id)
    if story is None:
        raise NotFound(f"no story with id {story_id}", field="id")
    return story


@router.get("/stories", response_model=Page[StoryOut])
async def list_stories(
    actor: StaffActor,
    page: Annotated[PageParams, Depends(page_params)],
    usable: Annotated[
        bool | None, Query(description="only stories a campaign may use today")
    ] = None,
) -> Page[StoryOut]:
    qs = SuccessStory.all()
    if usable:
        qs = qs.filter(active=True, consent_expires_at__gte=service.today())
    total = await qs.count()
    rows = await qs.order_by("-id").offset(page.offset).limit(page.limit)
    return Page(items=[present(s) for s in rows], total=total)


@router.post("/stories", response_model=StoryOut, status_code=201)
async def create_story(data: StoryCreate, actor: StoryEditor) -> StoryOut:
    return present(await service.create_story(data, actor=actor))


@router.get("/stories/{story_id}", response_model=StoryOut)
async def get_story(story_id: Id, actor: StaffActor) -> StoryOut:
    return present(await _get(story_id))


@router.patch("/stories/{story_id}", response_model=StoryOut)
async def update_story(story_id: Id, data: StoryUpdate, actor: StoryEditor) -> StoryOut:
    return present(await service.update_story(await _get(story_id), data, actor=actor))
