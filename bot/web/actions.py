"""What staff decide in the console: the same decisions as the staff commands (bot/office/decisions.py),
recorded under the account's name, followed by sending what they queued (a receipt, a resent reply).

A click from the page's htmx gets back a fragment with the outcome; a plain form post is sent back to the
page it came from."""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from bot.bootstrap import App
from bot.core.roster import RosterError
from bot.office import decisions, roster_uploads
from bot.office.decisions import Done, StaffError
from bot.web.app import Console, action
from bot.web.auth import User, local_path


def field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def routes(console: Console) -> list[Route]:
    application = console.application

    def outcome(request: Request, form: FormData, change: Callable[[App], Done]) -> Response:
        """Run the decision; its confirmation (or error) in the staff's words, then send what it queued."""
        try:
            done = change(application)
        except StaffError as exc:
            return answer(request, form, console.words("staff", exc.code, **exc.params), ok=False)
        said = console.words("staff", done.code, **done.params)
        sent = application.send_outbox(console.clock()).sent
        if sent:
            said += " " + console.words("staff", "sent", count=sent)
        return answer(request, form, said, ok=True)

    def answer(request: Request, form: FormData, said: str, ok: bool) -> Response:
        if request.headers.get("hx-request") == "true":
            html = application.templates.render("web/_done.html", said=said, ok=ok)
            return HTMLResponse(html, status_code=200 if ok else 422)
        if not ok:
            return console.render(request, "error.html", console.user(request), status_code=422, message=said)
        return RedirectResponse(local_path(field(form, "back")), status_code=303)

    async def assign(request: Request, user: User, form: FormData) -> Response:
        unit, campaign = field(form, "unit") or None, field(form, "campaign") or None
        if unit is None and campaign is None:
            return answer(request, form, console.words("web", "assign_what"), ok=False)
        return outcome(request, form, lambda a: decisions.assign(
            a, request.path_params["id"], unit, user.name, console.clock(), learn_address=bool(field(form, "learn")),
            notify=bool(field(form, "notify")), campaign=campaign))

    async def reclassify(request: Request, user: User, form: FormData) -> Response:
        return outcome(request, form, lambda a: decisions.reclassify(
            a, request.path_params["id"], field(form, "category"), user.name, console.clock()))

    async def exempt(request: Request, user: User, form: FormData) -> Response:
        return outcome(request, form, lambda a: decisions.exempt(
            a, field(form, "unit"), user.name, console.clock(), undo=bool(field(form, "undo"))))

    async def resend(request: Request, user: User, form: FormData) -> Response:
        return outcome(request, form, lambda a: decisions.resend(a, request.path_params["id"], user.name,
                                                                 console.clock()))

    async def reprocess(request: Request, user: User, form: FormData) -> Response:
        return outcome(request, form, lambda a: decisions.reprocess(a, [request.path_params["id"]], user.name,
                                                                    console.clock(), reply=bool(field(form, "reply"))))

    async def answered(request: Request, user: User, form: FormData) -> Response:
        return outcome(request, form, lambda a: decisions.answered(
            a, request.path_params["id"], user.name, console.clock(), undo=bool(field(form, "undo"))))

    async def done(request: Request, user: User, form: FormData) -> Response:
        return outcome(request, form, lambda a: decisions.mark_done(
            a, field(form, "ref"), field(form, "kind") or None, user.name, console.clock(),
            undo=bool(field(form, "undo"))))

    uploads = application.config.storage.data_dir / "web" / "uploads"

    async def roster_upload(request: Request, user: User, form: FormData) -> Response:
        upload = form.get("roster")
        if not isinstance(upload, UploadFile) or not upload.filename:
            return roster_page(request, user, error=console.words("web", "roster_choose"))
        data = await upload.read(roster_uploads.MAX_BYTES + 1)
        try:
            staged = roster_uploads.stage(application.engine, uploads, data, upload.filename)
        except RosterError as exc:
            return roster_page(request, user, error=console.words("cli", "roster_error", error=str(exc)))
        return roster_page(request, user, staged=staged)

    async def roster_apply(request: Request, user: User, form: FormData) -> Response:
        try:
            path = roster_uploads.staged_file(uploads, field(form, "token"))
        except RosterError:
            return roster_page(request, user, error=console.words("web", "roster_gone"))
        return outcome(request, form, lambda a: decisions.import_units(a, path, user.name, console.clock()))

    def roster_page(request: Request, user: User, error: str | None = None,
                    staged: roster_uploads.Staged | None = None) -> Response:
        return console.render(request, "roster.html", user, status_code=422 if error else 200,
                              units=application.roster.units, staged=staged, error=error)

    async def remind_now(request: Request, user: User, form: FormData) -> Response:
        return outcome(request, form, lambda a: decisions.remind_now(a, a.reminders(), field(form, "campaign"),
                                                                     user.name, console.clock()))

    return [
        Route("/reminders/send", action(console, remind_now), methods=["POST"]),
        Route("/roster/upload", action(console, roster_upload), methods=["POST"]),
        Route("/roster/apply", action(console, roster_apply), methods=["POST"]),
        Route("/review/done", action(console, done), methods=["POST"]),
        Route("/mail/{id:int}/assign", action(console, assign), methods=["POST"]),
        Route("/files/{id:int}/reclassify", action(console, reclassify), methods=["POST"]),
        Route("/units/exempt", action(console, exempt), methods=["POST"]),
        Route("/mail/{id:int}/resend", action(console, resend), methods=["POST"]),
        Route("/mail/{id:int}/reprocess", action(console, reprocess), methods=["POST"]),
        Route("/mail/{id:int}/answered", action(console, answered), methods=["POST"]),
    ]
