"""The scheduled worker (`intake run`): APScheduler runs thin jobs (jobs.py: poll and flush, flush, what is due
this minute) one at a time on one thread (scheduler.py). No logic of its own.

May import: bootstrap (the application), office. Not the CLI.
"""
