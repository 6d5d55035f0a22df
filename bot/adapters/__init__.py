"""The edges: the only code that talks to the outside world, each behind a small interface.

mailbox      IMAP (imapclient): read, fetch, mark
smtp         SMTP (smtplib): send; mailer holds the Mailer protocol, SendError and the folder mailer
bsdtar       RAR archives through Debian's bsdtar (a subprocess)
config_file  the TOML config, validated into values
roster_file  the roster file (CSV or XLSX) read from disk
templates    Jinja2 templates and the message catalogue, staff overrides first

May import: core, and libraries that do I/O. Nothing of office, worker, cli or bootstrap; not the database.
"""
