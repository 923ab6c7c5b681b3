"""Storage: the only code that talks to DynamoDB and knows how records are kept there.

- ``store.py``: the `Store`, owner of the table's item format: a batch written by one plan
  of calls (conditional puts keep the current state), one read per access pattern.
- ``dynamodb.py``: the client, signed calls retried as AWS SDKs retry; its transport
  (``_http1.py``), signing (``_sigv4.py``), in-flight bound (``_slots.py``) and shared
  reads (``_shared_read.py``) are private to this package.
- ``migrate.py``: the reference service's item format, read to migrate its table.

Code outside this package imports what it needs from here (or from ``store`` and
``migrate``), never the client's internals: ``make lint`` checks that (import-linter).
"""

from .dynamodb import CallObserver, call_outcome, open_client, retried
from .store import Store

__all__ = ["CallObserver", "Store", "call_outcome", "open_client", "retried"]
