"""The lifecycle matrix: every role (staff of each kind, the sending partner, the receiving
partner, an unrelated partner) × every (from, to) pair of statuses, for a referral from a
partner to us, from us to a partner, and between two partners, against one table."""

from __future__ import annotations

import pytest

from crm.referrals.models import ReferralStatus, ReferralStatusChange

STATUSES = [s.value for s in ReferralStatus]
FINAL = {"rejected", "completed", "redirected", "cancelled", "expired"}
# The rules, written out here independently of the code under test.
MOVES = {
    "receiver": {
        "requested": {"accepted", "rejected", "redirected"},
        "accepted": {"in_progress", "completed", "rejected", "redirected"},
        "in_progress": {"completed", "redirected"},
    },
    "sender": {
        "requested": {"cancelled"},
        "accepted": {"cancelled"},
        "in_progress": {"cancelled"},
    },
}
# Which side each caller is on. no_route: the role may not call the API route at all;
# visible: sees the referral but is on neither side; invisible: may not see it.
SIDES = {
    "inbound": {  # partner A → us
        "admin": "receiver",
        "coordinator": "receiver",
        "agent": "receiver",
        "marketing": "no_route",
        "partner_a": "sender",
        "partner_b": "invisible",
        "partner_c": "invisible",
    },
    "outbound": {  # us → partner B
        "admin": "sender",
        "coordinator": "sender",
        "agent": "sender",
        "marketing": "no_route",
        "partner_a": "invisible",
        "partner_b": "receiver",
        "partner_c": "invisible",
    },
    "between": {  # partner A → partner B (a redirect's follow-on)
        "admin": "visible",
        "coordinator": "visible",
        "agent": "visible",
        "marketing": "no_route",
        "partner_a": "sender",
        "partner_b": "receiver",
        "partner_c": "invisible",
    },
}


def expected(side: str, current: str, target: str) -> int:
    if side in ("no_route", "visible"):
        return 403
    if side == "invisible":
        return 404
    if current in FINAL or target == current or target == "requested":
        return 409
    if target == "expired":
        return 403  # only the system expires a referral
    if target in MOVES[side].get(current, set()):
        return 200
    other = "sender" if side == "receiver" else "receiver"
    if target in MOVES[other].get(current, set()):
        return 403
    return 409


def body_for(target: str, redirect_to: int) -> dict:
    extra = {
        "rejected": {"reason_code": "not_eligible"},
        "completed": {"outcome": "coached"},
        "cancelled": {"status_reason": "moved away"},
        "redirected": {"redirect_to_partner_id": redirect_to},
    }.get(target, {})
    return {"status": target, **extra}


@pytest.mark.parametrize("current", STATUSES)
@pytest.mark.parametrize("direction", sorted(SIDES))
async def test_lifecycle_matrix(client, world, direction, current):
    sender, receiver = {
        "inbound": (world.a, None),
        "outbound": (None, world.b),
        "between": (world.a, world.b),
    }[direction]
    wrong = []
    for role, side in SIDES[direction].items():
        caller = world.callers[role]
        for target in STATUSES:
            referral = await world.referral(
                sender=sender, receiver=receiver, status=ReferralStatus(current)
            )
            response = await client.patch(
                f"/api/v1/referrals/{referral.id}",
                headers=caller.headers,
                json=body_for(target, world.d.id),
            )
            want = expected(side, current, target)
            if response.status_code != want:
                wrong.append((role, current, target, want, response.status_code, response.text))
                continue
            if want == 200:
                body = response.json()
                last = await ReferralStatusChange.filter(referral_id=referral.id).order_by("-id")
                if body["status"] != target or last[0].status != target:
                    wrong.append((role, current, target, "history", body["status"]))
                if body["allowed_moves"] != []:
                    if target not in ("accepted", "in_progress"):
                        wrong.append((role, current, target, "moves", body["allowed_moves"]))
            elif want in (403, 409):
                detail = response.json()["detail"]
                # The refusal says why (a message naming the status field).
                if not (isinstance(detail, list) or detail):
                    wrong.append((role, current, target, "no reason", detail))
    assert not wrong, "\n".join(map(str, wrong))
