"""The imperative shell: the office's work, done with the core's steps, the adapters and the storage.

intake/        one message's path in the crash-safe order (claim, analyse, archive, file, reply)
poll           read new mail above the cursor, folder by folder, reconnecting within a cycle
outbox         queue outgoing mail; send it with retries
digest         the staff digest: gathered, written, queued; the day's slot claimed once
reminders      reminders and the overdue notice, queued with their ledger rows
decisions      staff decisions (assign, reclassify, exempt, resend, reprocess, roster import)
status, review the reports staff read; exports (XLSX, ZIP); inspect (`intake inspect`)
roster_in_force, sweep

May import: core, adapters, storage. Never the wiring (bot/bootstrap.py), the worker or the CLI: each service
takes what it needs as arguments.
"""
