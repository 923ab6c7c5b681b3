"""The change feed: events read from the log, the live stream and webhooks.

- ``tail.py``: one reader of the event log per process, shared by every stream client, so
  engine calls do not grow with clients.
- ``dispatch.py``: webhook deliveries, each subscription served by one process at a time.
- ``_signing.py``, ``_targets.py``, ``_formats.py``, ``_attempt.py``: one webhook delivery
  (signed, to a target checked on the address actually connected, in the service's JSON or
  Slack's format).
"""

from ._signing import new_secret
from ._targets import TargetPolicy, check_url

__all__ = ["TargetPolicy", "check_url", "new_secret"]
