"""The `intake` commands, one module per group: app (the Typer app, options, opening the application),
mail (run, poll, import, inspect), reports (status, review, digest, export), staff (assign, reclassify,
exempt, resend, answered, reprocess, units), reminders (remind), demo, db (upgrade); main registers them all
(the entry point).

May import: bootstrap, office, worker, adapters, core. A group imports only bot.cli.app of this package.
"""
