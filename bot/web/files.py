"""The console's file routes. Every one takes an id, never a path: the path comes from the database and is
resolved inside the data folder. What a sender sent is only ever downloaded (`Content-Disposition:
attachment`, `application/octet-stream`), never shown inline; what the page shows of a photo is a JPEG that
Pillow made anew from it (bot/core/files/preview.py)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import quote

from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from bot.office import console as queries
from bot.office.exports import write_xlsx, write_zip
from bot.office.previews import Previews
from bot.office.status import status_report, unit_report
from bot.web.app import Console, page
from bot.web.auth import User
from storage.files import UnsafePathError, safe_name

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def attachment(name: str) -> str:
    """An RFC 6266 Content-Disposition: an ASCII fallback name and the real name in UTF-8 (RFC 5987)."""
    clean = safe_name(name)
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\%' else "_" for c in clean)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(clean, safe='')}"


def routes(console: Console) -> list[Route]:
    application = console.application
    store = application.store

    def download(path: Path, name: str, media_type: str = "application/octet-stream",
                 background: BackgroundTask | None = None) -> Response:
        return FileResponse(path, media_type=media_type, headers={"content-disposition": attachment(name)},
                            background=background)

    def on_disk(relative: str) -> Path:
        try:
            path = store.absolute(relative)
        except UnsafePathError as exc:
            raise HTTPException(404) from exc
        if not path.is_file():
            raise HTTPException(404)
        return path

    async def file_download(request: Request, user: User) -> Response:
        found = queries.stored_file(application.engine, request.path_params["id"])
        if found is None:
            raise HTTPException(404)
        return download(on_disk(found.path), found.name)

    def preview(previews: Previews, item_id: int) -> Response:
        found = queries.stored_file(application.engine, item_id)
        if found is None:
            raise HTTPException(404)
        made = previews.thumbnail_path(found.sha256, found.path)
        if made is None:
            raise HTTPException(404)
        return FileResponse(made, media_type="image/jpeg", headers={"cache-control": "private, max-age=86400"})

    async def thumbnail(request: Request, user: User) -> Response:
        return preview(console.previews, request.path_params["id"])

    async def large(request: Request, user: User) -> Response:
        return preview(console.large_previews, request.path_params["id"])

    async def raw(request: Request, user: User) -> Response:
        found = queries.raw_mail(application.engine, request.path_params["id"])
        if found is None:
            raise HTTPException(404)
        return download(on_disk(found.path), found.name)

    def made_file(suffix: str) -> tuple[Path, BackgroundTask]:
        fd, name = tempfile.mkstemp(prefix="intake-export-", suffix=suffix)
        os.close(fd)
        path = Path(name)
        return path, BackgroundTask(path.unlink, missing_ok=True)

    async def export_xlsx(request: Request, user: User) -> Response:
        campaign = console.campaign(request.path_params["slug"])
        report = unit_report(application.engine, application.roster, campaign)
        path, cleanup = made_file(".xlsx")
        write_xlsx(report, application.templates, console.clock(), campaign.timezone, path)
        name = console.words("web", "xlsx_name", campaign=campaign.name, slug=campaign.slug)
        return download(path, name, XLSX, cleanup)

    async def export_zip(request: Request, user: User) -> Response:
        campaign = console.campaign(request.path_params["slug"])
        report = status_report(application.engine, application.roster, campaign)
        path, cleanup = made_file(".zip")
        write_zip(report, store, application.templates, campaign.timezone, path)
        name = console.words("web", "zip_name", campaign=campaign.name, slug=campaign.slug)
        return download(path, name, "application/zip", cleanup)

    return [
        Route("/files/{id:int}", page(console, file_download)),
        Route("/files/{id:int}/thumbnail", page(console, thumbnail)),
        Route("/files/{id:int}/view", page(console, large)),
        Route("/mail/{id:int}/raw", page(console, raw)),
        Route("/campaigns/{slug}/export.xlsx", page(console, export_xlsx)),
        Route("/campaigns/{slug}/export.zip", page(console, export_zip)),
    ]
