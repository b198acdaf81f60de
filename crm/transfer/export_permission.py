"""Exporting is a permission of its own: taking people's data out of the CRM in a file is not
the same as seeing it on a screen. Admins always may; other staff only when granted
(`User.can_export`); partners never (they follow their own referrals in the portal and the API).
"""

from __future__ import annotations

from crm.audit import service as audit
from crm.auth.actor import Actor
from crm.auth.models import User
from crm.enums import Role
from crm.errors import InvalidInput, NotFound


async def may_export(actor: Actor) -> bool:
    """Whether this actor may export at all (read from the database each time, so a
    permission taken away counts at once, also for tokens already issued)."""
    if actor.role is Role.PARTNER:
        return False
    if actor.user_id is None:
        return actor.role is Role.ADMIN  # the command line, run by whoever runs the server
    if actor.role is Role.ADMIN:
        return await User.exists(id=actor.user_id, is_active=True)
    return await User.exists(id=actor.user_id, is_active=True, can_export=True)


def user_may_export(user: User) -> bool:
    """The same rule for a user already loaded (pages use it to show the export links)."""
    return user.is_active and (
        user.role == Role.ADMIN or (user.can_export and user.role != Role.PARTNER)
    )


async def set_export_permission(email: str, allowed: bool, *, actor: Actor | None) -> User:
    """Grant or take away the export permission of a staff user; audited."""
    address = email.strip().lower()
    user = await User.get_or_none(email=address)
    if user is None:
        raise NotFound(f"no user with e-mail {address}", field="email")
    if user.role == Role.PARTNER and allowed:
        raise InvalidInput("partner users never export", field="email")
    if user.can_export != allowed:
        await User.filter(id=user.id).update(can_export=allowed)
        user.can_export = allowed
        await audit.record(
            actor,
            "user.export_permission",
            entity="user",
            entity_id=user.id,
            changes={"can_export": allowed},
        )
    return user
