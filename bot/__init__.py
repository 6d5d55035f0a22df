"""report-intake: an email-driven intake bot for offices that collect reports from many units by mail.

Rooms (ARCHITECTURE.md): core/ (pure steps and values), adapters/ (IMAP, SMTP, bsdtar, config, roster and
template files), office/ (the imperative shell: one message's path, polling, outbox, digest, reminders, staff
decisions, reports), worker/ (the scheduler and its jobs), cli/ (the `intake` commands); bootstrap.py wires
them from the config.
"""

__version__ = "0.1.0"
