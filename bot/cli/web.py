"""`intake web`: the staff console in the browser (bot/web/), beside the worker or alone."""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli.app import app, console, open_app, state


@app.command("web")
def web_cmd(
    host: Annotated[str | None, typer.Option("--host", help="Listen on this address (default web.host, "
                                                            "127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Listen on this port (default web.port, 8080)")] = None,
) -> None:
    """Serve the staff console: the campaigns at a glance, each unit's files, each mail, and the decisions
    the bot leaves to staff. Log in with an account made by `intake users add NAME`."""
    import uvicorn

    from bot.web.app import create_app

    application = open_app()
    web = application.config.web
    host, port = host or web.host, port or web.port
    console.print(application.templates.text("web", "serving", url=web.base_url or f"http://{host}:{port}/"))
    uvicorn.run(create_app(application, state.clock), host=host, port=port, log_level="warning", server_header=False,
                proxy_headers=False)
