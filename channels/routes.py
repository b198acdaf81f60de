"""Every HTTP route of the channels package, mounted by crm.app."""

from __future__ import annotations

from fastapi import FastAPI


def install_channels(app: FastAPI) -> None:
    return None
