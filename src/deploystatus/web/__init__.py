"""The HTTP API: where a record comes in (``POST /records``) and where records go out
(``/current``, ``/historical/{component}``, the pickers' lists), and the plumbing every
page of the service shares.

    api.py            the JSON endpoints: parse, call the store, encode
    bodies.py         request bodies: read within bounds, records decoded and validated
    options.py        query options and path names, parsed once (the board uses them too)
    cursors.py        signed pagination cursors
    encoding.py       response bodies, byte for byte as the reference wrote them
    problems.py       every failure's status and JSON body
    state.py          what a request finds: settings, store, encoder, cursors, metrics
    auth.py           bearer tokens, the board's session cookie
    observability.py  request ids, access log, HTTP metrics
    metrics.py        Prometheus metrics
    openapi.py        the OpenAPI description of the contract
"""
