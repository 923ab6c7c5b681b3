"""The ``deploystatus`` command (``main.py``) and its subcommands, on Typer.

main.py      the command: its groups, --version, failures as exit statuses
service.py   serve, dev, local-db: running the service
table.py     init-table, reset
generate.py  generate: realistic sample data, written through the store
migrate.py   migrate-legacy: the reference's table into this one
tokens.py    token create
remote.py    post, current, history, remove-record: a client of a running service, over HTTP
webhooks.py  webhooks create, list, show, pause, resume, delete, deliveries, redeliver
_client.py   the client's HTTP: retries shown on stderr, one-line failures
_output.py   table, tsv and json output of records
_target.py   the guard on tables that are not on a local engine
engines.py   local DynamoDB-protocol engines (dynalite, moto) as child processes
"""
