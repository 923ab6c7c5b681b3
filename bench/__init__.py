"""The benchmark suite: ``make bench`` (``python -m bench``), ``make bench-quick``.

It starts ``deploystatus dev`` on dynalite on free loopback ports, loads data through the
API, measures writes, reads and a mixed load against the engine's own ceiling for the same
DynamoDB calls, writes the raw results as JSON and regenerates docs/performance.md from
them (``python -m bench.report RESULTS.json`` regenerates the page alone).
"""
