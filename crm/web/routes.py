"""HTML pages (the web shell). Filled in by the web package."""

from __future__ import annotations

from fastapi import FastAPI


def install_web(app: FastAPI) -> None:
    return None
