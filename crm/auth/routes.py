from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, StringConstraints

from crm.auth import service
from crm.auth.deps import Unauthenticated
from crm.errors import InvalidInput

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class TokenRequest(BaseModel):
    email: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=254)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


@router.post("/token", response_model=TokenResponse)
async def create_token(data: TokenRequest) -> TokenResponse:
    """Exchange a staff member's e-mail and password for a bearer token."""
    user = await service.authenticate(data.email, data.password)
    if user is None:
        raise Unauthenticated("wrong e-mail or password")
    try:
        token = await service.issue_staff_token(user, name="login")
    except InvalidInput:
        raise Unauthenticated("partner users sign in to the portal; systems use API keys") from None
    from crm.config import settings

    return TokenResponse(access_token=token, expires_in=settings.API_TOKEN_TTL_HOURS * 3600)
