"""When a failed request to the model server is worth sending again, and after how long.

The policy is the openai SDK's own (connection errors, timeouts, 408, 409, 429 and 5xx; the
server's Retry-After up to a minute, else exponential backoff from half a second to eight, less up
to a quarter of jitter), done in heron so each retry can be shown to the user as it happens.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from typing import Mapping

import openai

MAX_RETRY_AFTER = 60.0
RETRIED_STATUSES = frozenset({408, 409, 429})


def backoff(attempt: int) -> float:
    """Seconds to wait before retry number `attempt` + 1 when the server names no delay."""
    return min(0.5 * 2.0 ** min(attempt, 32), 8.0) * (1 - 0.25 * random.random())


def retry_delay(error: openai.APIError, attempt: int) -> float | None:
    """Seconds to wait before sending the request again, or None when it is not worth sending."""
    if isinstance(error, (openai.APIConnectionError, openai.APITimeoutError)):
        return backoff(attempt)
    if not isinstance(error, openai.APIStatusError):
        return None
    headers = error.response.headers
    asked = retry_after(headers)
    if asked is not None and asked > MAX_RETRY_AFTER:
        return None  # the server asks for longer than a user should wait: fail now and say so
    should = headers.get("x-should-retry")
    if should in ("true", "false"):
        retried = should == "true"
    else:
        retried = error.status_code in RETRIED_STATUSES or error.status_code >= 500
    if not retried:
        return None
    return asked if asked is not None and asked > 0 else backoff(attempt)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """The delay a server asks for in Retry-After-Ms or Retry-After (seconds or an HTTP date)."""
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except ValueError:
            continue
        return seconds if math.isfinite(seconds) else MAX_RETRY_AFTER + 1
    when = headers.get("retry-after")
    parsed = email.utils.parsedate_tz(when) if when else None
    return email.utils.mktime_tz(parsed) - time.time() if parsed else None
