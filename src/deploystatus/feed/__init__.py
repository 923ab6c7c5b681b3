"""The change feed: events read from the log, the live stream and webhooks.

- ``tail.py``: one reader of the event log per process, shared by every stream client and
  the webhook dispatcher, so engine calls do not grow with clients.
- ``_signing.py``, ``_targets.py``, ``_formats.py``, ``_attempt.py``: one webhook delivery
  (signed, to a target checked on the address actually connected, in the service's JSON or
  Slack's format).
"""
