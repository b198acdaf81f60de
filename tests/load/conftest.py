"""Load and fault tests: the real processes of docker-compose.yml on a PostgreSQL cluster of
their own (tests/load/rig.py), in the PostgreSQL pass of ./scripts/test.sh only; and the
focused tests of the fixes they led to, on both engines, with the channel tests' fixtures."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.campaigns.conftest import marketing, person  # noqa: F401 - campaign fixtures
from tests.channels.conftest import (  # noqa: F401 - fixtures shared with the channel tests
    app,
    dispatcher,
    make_lead,
    providers,
    telegram_standin,
    twilio_standin,
)
from tests.conftest import IS_POSTGRES
from tests.load.cluster import missing_binaries
from tests.load.rig import Rig
from tests.load.scenarios import heal

ONLY_ON_POSTGRES = pytest.mark.skipif(
    not IS_POSTGRES,
    reason="load and fault tests run in the PostgreSQL pass (./scripts/test.sh runs both)",
)


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    reason = missing_binaries()
    if reason:
        pytest.skip(reason)
    deployment = Rig(tmp_path_factory.mktemp("load"))
    try:
        deployment.start()
        yield deployment
    finally:
        deployment.close()


@pytest.fixture
async def deployment(rig: Rig) -> Rig:
    """The rig as a scenario expects it: the database up, every worker alive, no rows left
    from the scenario before, the stand-ins empty and answering."""
    await heal(rig)
    return rig
