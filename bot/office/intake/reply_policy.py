"""When a processed message gets a reply (light: staff commands import it without the pipeline)."""

from __future__ import annotations

from enum import StrEnum


class ReplyPolicy(StrEnum):
    """When a processed message gets a reply."""

    AS_DECIDED = "as-decided"  # as the pipeline's outcome says (a new message)
    ALWAYS = "always"  # also again (a staff member asked for it)
    IF_NEVER_ANSWERED = "if-never-answered"  # reprocessing: only a message that never had one
    NEVER = "never"  # reprocessing after a staff decision that asked for none
