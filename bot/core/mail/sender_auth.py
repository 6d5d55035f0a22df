"""Did the receiving server vouch for the sender? Reads its Authentication-Results header (RFC 8601).

Only the topmost header counts: it is the one the collection mailbox's own server added; anything
below it came with the mail and may be forged. Pure.
"""

from __future__ import annotations

import re

from bot.core.model import Mail

# Results that mark a registered sender as unproven (an SPF softfail is too common to act on).
FAILING = {"dmarc": ("fail",), "spf": ("fail",)}
_RESULT = re.compile(r"\b(dmarc|spf|dkim)\s*=\s*([a-z]+)", re.IGNORECASE)


def sender_auth_failure(mail: Mail) -> str | None:
    """'dmarc=fail' or 'spf=fail' when the receiving server says so, else None."""
    headers = mail.header_all("authentication-results")
    if not headers:
        return None
    for method, result in _RESULT.findall(headers[0]):
        method, result = method.lower(), result.lower()
        if result in FAILING.get(method, ()):
            return f"{method}={result}"
    return None
