"""The staff console (`intake web`): server-rendered pages over the same database and data folder as the worker.

app.py builds the Starlette application; auth.py the accounts' sessions, the login limiter and the checks
against cross-site requests; pages.py what staff read, actions.py what staff decide, files.py the file routes
(by id, never by path). The pages are Jinja2 templates in templates/web/, with a little htmx served from
static/ (no CDN: staff networks are often offline)."""
