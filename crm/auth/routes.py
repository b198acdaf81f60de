from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, StringConstraints

from crm.auth import service
from crm.auth.deps import Unauthenticated
from crm.auth.throttle import Refusal
from crm.errors import InvalidInput
from crm.security import client_address

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class TokenRequest(BaseModel):
    email: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=254)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


@router.post(
    "/token",
    response_model=TokenResponse,
    responses={
        401: {"description": "wrong e-mail or password"},
        429: {
            "description": "too many failed sign-ins for this account or from this address; "
            "the Retry-After header says when to try again"
        },
    },
)
async def create_token(data: TokenRequest, request: Request) -> TokenResponse:
    """Exchange a staff member's e-mail and password for a bearer token. Failed attempts are
    limited per account and per address (LOGIN_MAX_FAILURES, LOGIN_ADDRESS_MAX_FAILURES)."""
    user = await service.sign_in(data.email, data.password, address=client_address(request))
    if isinstance(user, Refusal):
        raise HTTPException(
            status_code=429, detail=user.message, headers={"Retry-After": str(user.retry_after)}
        )
    if user is None:
        raise Unauthenticated("wrong e-mail or password")
    try:
        token = await service.issue_staff_token(user, name="login")
    except InvalidInput:
        raise Unauthenticated("partner users sign in to the portal; systems use API keys") from None
    from crm.config import settings

    return TokenResponse(access_token=token, expires_in=settings.API_TOKEN_TTL_HOURS * 3600)
