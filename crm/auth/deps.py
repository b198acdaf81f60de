"""FastAPI dependencies: who is calling, and may they call this route."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from crm.auth.actor import Actor
from crm.auth.service import resolve_bearer
from crm.enums import Role
from crm.errors import DomainError, Forbidden

_bearer = HTTPBearer(auto_error=False, description="A staff token or a partner API key")


class Unauthenticated(DomainError):
    status_code = 401


async def current_actor(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Actor:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("missing bearer token (Authorization: Bearer <token>)")
    actor = await resolve_bearer(credentials.credentials)
    if actor is None:
        raise Unauthenticated("invalid, expired or revoked token")
    request.state.actor = actor
    return actor


class RoleCheck:
    """A dependency that admits only the given roles. Its `roles` are read by the role tests,
    which fail for any API route that has none."""

    def __init__(self, *roles: Role) -> None:
        self.roles = frozenset(roles)

    async def __call__(self, actor: Annotated[Actor, Depends(current_actor)]) -> Actor:
        if actor.role not in self.roles:
            raise Forbidden(f"the {actor.role.value} role may not do this")
        return actor


def allow(*roles: Role) -> type[Actor]:
    return Annotated[Actor, Depends(RoleCheck(*roles))]  # type: ignore[return-value]


ALL = (Role.ADMIN, Role.COORDINATOR, Role.MARKETING, Role.AGENT, Role.PARTNER)
STAFF = (Role.ADMIN, Role.COORDINATOR, Role.MARKETING, Role.AGENT)
FIELD = (Role.ADMIN, Role.COORDINATOR, Role.AGENT)
MANAGERS = (Role.ADMIN, Role.COORDINATOR)

AnyActor = allow(*ALL)
StaffActor = allow(*STAFF)
FieldActor = allow(*FIELD)
ManagerActor = allow(*MANAGERS)
StoryEditor = allow(Role.ADMIN, Role.COORDINATOR, Role.MARKETING)
ReferralActor = allow(Role.ADMIN, Role.COORDINATOR, Role.AGENT, Role.PARTNER)
