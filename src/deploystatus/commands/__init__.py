"""The ``deploystatus`` command (``main.py``) and its subcommands.

main.py      the command: serve, dev, local-db, init-table, reset
remote.py    post, current, history, remove-record: a client of a running service, over HTTP
generate.py  realistic sample data, written through the store
migrate.py   migrate-legacy: the reference's table into this one
tokens.py    token create
engines.py   local DynamoDB-protocol engines (dynalite, moto) as child processes
"""
