"""What staff read: the campaign overview, a unit, a mail, the review queue, the reminders to come, the
downloads and the roster. Each page reads through the office's queries and shows values; nothing here
changes anything."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from bot.core.model import CATEGORIES
from bot.core.render.overview import days_left, overview
from bot.office import console as queries
from bot.office.review import ALL, review_list
from bot.office.status import history, unit_report
from bot.web.app import Console, page
from bot.web.auth import User


def routes(console: Console) -> list[Route]:
    application = console.application

    async def home(request: Request, user: User) -> Response:
        now = console.clock()
        live = [c for c in application.campaigns if c.open_at(now)] or list(application.campaigns)
        if not live:
            return console.render(request, "empty.html", user)
        return RedirectResponse(f"/campaigns/{console.quote(live[0].slug)}", status_code=303)

    async def campaign_page(request: Request, user: User) -> Response:
        campaign = console.campaign(request.path_params["slug"])
        group = request.query_params.get("group") or None
        report = unit_report(application.engine, application.roster, campaign)
        today = console.clock().astimezone(campaign.timezone).date()
        return console.render(request, "overview.html", user, campaign=campaign, report=report["campaign"],
                              grid=overview(report, group), group=group,
                              days=days_left(campaign.deadline.astimezone(campaign.timezone), today))

    async def unit_page(request: Request, user: User) -> Response:
        campaign = console.campaign(request.path_params["slug"])
        unit = application.roster.by_name(request.path_params["unit"])
        if unit is None or unit.name != request.path_params["unit"]:
            raise HTTPException(404)
        report = unit_report(application.engine, application.roster, campaign)
        state = next(u for u in report["units"] if u["name"] == unit.name)
        files = queries.unit_files(application.engine, campaign.slug, unit.name, campaign.timezone)
        previews = console.previews
        for entry in files:
            path = entry["path"]
            entry["photo"] = previews.facts(path) if path and entry["category"] == "photo" else None
            entry["preview"] = previews.document(path, entry["kind"]) if path and entry["category"] != "photo" else None
        events = [{"at": e["at"].astimezone(campaign.timezone) if e["at"] else None, "text": event_text(e)}
                  for e in history(application.engine, unit.name)]
        return console.render(request, "unit.html", user, campaign=campaign, unit=unit, state=state, files=files,
                              messages=queries.unit_messages(application.engine, unit.name, campaign.timezone),
                              events=events, categories=[c.value for c in CATEGORIES])

    def event_text(event: dict[str, Any]) -> str:
        code = event["what"] if event["what"] != "action" else "action_" + event["command"].replace("-", "_")
        return console.words("history", code, **event)

    async def mail_page(request: Request, user: User) -> Response:
        detail = queries.mail_detail(application.engine, request.path_params["id"], application.zone)
        if detail is None:
            raise HTTPException(404)
        return console.render(request, "mail.html", user, mail=detail, categories=[c.value for c in CATEGORIES],
                              units=[u.name for u in application.roster.units])

    async def review_page(request: Request, user: User) -> Response:
        chosen = request.query_params.get("campaign")
        slug = ALL if chosen in (None, "", ALL) else (None if chosen == "-" else chosen)
        entries = review_list(application.engine, application.zone, slug)
        return console.render(request, "review.html", user, entries=entries, chosen=chosen or "",
                              review_kind=lambda kind: console.words("review_kinds", kind),
                              categories=[c.value for c in CATEGORIES],
                              units=[u.name for u in application.roster.units])

    async def reminders_page(request: Request, user: User) -> Response:
        from bot.core.render.reminder_dry_run import describe_all

        now = console.clock()
        plans = application.reminders().plan_now(now)
        lines = describe_all(application.templates, plans, now, headed=len(application.campaigns) > 1)
        live = [c for c in application.campaigns if c.open_at(now)]
        return console.render(request, "reminders.html", user, lines=lines, open_campaigns=live)

    async def downloads_page(request: Request, user: User) -> Response:
        return console.render(request, "downloads.html", user)

    async def roster_page(request: Request, user: User) -> Response:
        return console.render(request, "roster.html", user, units=application.roster.units, staged=None,
                              error=None)

    return [
        Route("/", page(console, home)),
        Route("/campaigns/{slug}", page(console, campaign_page)),
        Route("/campaigns/{slug}/units/{unit}", page(console, unit_page)),
        Route("/mail/{id:int}", page(console, mail_page)),
        Route("/review", page(console, review_page)),
        Route("/reminders", page(console, reminders_page)),
        Route("/downloads", page(console, downloads_page)),
        Route("/roster", page(console, roster_page)),
    ]
