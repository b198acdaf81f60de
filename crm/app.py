"""create_app(): the FastAPI application with its lifespan, routers, pages and static files."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.gzip import GZipMiddleware

from crm import __version__, db
from crm.errors import install_error_handlers
from crm.security import install_security

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"


def create_app(*, database_url: str | None = None, run_worker: bool = False) -> FastAPI:
    """The web app. `run_worker` also runs the outbox dispatcher in this process (`serve` on
    SQLite); on PostgreSQL it runs in `passerelle worker` processes."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from campaigns.runner import install as campaign_runs
        from channels.runtime import start_channels, stop_channels
        from crm.privacy.retention import install as privacy_jobs
        from crm.referrals.jobs import install as referral_jobs
        from crm.transfer.import_jobs import install as import_jobs

        await db.init_db(database_url)
        try:
            await start_channels(
                app,
                run_worker=run_worker,
                plugins=[campaign_runs, referral_jobs, import_jobs, privacy_jobs],
            )
            try:
                yield
            finally:
                await stop_channels(app)
        finally:
            await db.close_db()

    app = FastAPI(
        title="Passerelle",
        version=__version__,
        summary="Outreach CRM with SMS and Telegram channels",
        lifespan=lifespan,
    )
    install_error_handlers(app)

    import campaigns.export  # noqa: F401 - registers the campaign results as exports
    import campaigns.reporting  # noqa: F401 - tells the reports about campaigns
    from campaigns.routes import router as campaigns_router
    from campaigns.web import router as campaign_pages
    from channels.routes import install_channels
    from crm.auth.routes import router as auth_router
    from crm.outreach.routes import router as outreach_router
    from crm.people.dedup_routes import router as dedup_router
    from crm.people.routes import router as people_router
    from crm.privacy.register_routes import router as privacy_register_router
    from crm.privacy.routes import router as privacy_router
    from crm.referrals.routes import router as referrals_router
    from crm.referrals.webhook_routes import router as partner_webhooks_router
    from crm.reports.routes import router as reports_router
    from crm.stories.routes import router as stories_router
    from crm.transfer.export_routes import router as export_router
    from crm.transfer.import_routes import router as import_router
    from crm.web.routes import install_web

    for router in (
        auth_router,
        people_router,
        dedup_router,
        privacy_router,
        privacy_register_router,
        outreach_router,
        referrals_router,
        partner_webhooks_router,
        stories_router,
        export_router,
        import_router,
        reports_router,
        campaigns_router,
    ):
        app.include_router(router)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> JSONResponse:
        ok = await db.ping()
        return JSONResponse(
            {"status": "ok" if ok else "degraded", "database": "ok" if ok else "down"},
            status_code=200 if ok else 503,
        )

    install_channels(app)
    # Scripts and styles are compressed (app.js 35 KB → 9 KB on a phone's weak connection);
    # pages are not, since they carry the CSRF token next to text a visitor can choose (BREACH).
    app.mount(
        "/static",
        GZipMiddleware(StaticFiles(directory=STATIC_DIR), minimum_size=1024),
        name="static",
    )
    install_web(app)
    app.include_router(campaign_pages)
    install_security(app)  # last: around everything (client address, headers, body limit)
    return app
