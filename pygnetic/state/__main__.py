"""Run the state service: ``python -m pygnetic.state [--db FILE | --redis URL] [options]``.

It prints ``listening on HOST:PORT`` on stdout once it accepts connections
(with ``--port 0`` that is how to learn the port), logs to stderr, and runs
until interrupted (Ctrl+C or SIGTERM). Needs neither pygame nor a display.

Admin commands work on the same store, with the service running or not
(SQLite allows one writer at a time; each command is one short write)::

    python -m pygnetic.state account add EMAIL      # asks for the password
    python -m pygnetic.state account password EMAIL
    python -m pygnetic.state account delete EMAIL
    python -m pygnetic.state apps                   # lists every application
    python -m pygnetic.state delete-app APPID

``--password-stdin`` reads the password from standard input instead of
asking, for scripts.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import signal
import sys
from typing import Any

from .. import _configure_logging
from ._accounts import check_new_password, make_record
from ._errors import StateError
from ._model import ACCESS_MODES, APP, StateLimits, space_key
from ._protocol import STATE_PORT
from ._server import DEFAULT_DATABASE, StateServer
from ._service import StateService
from ._sqlite import SQLiteStore
from ._store import Store

_MODE_NAMES = dict(
    zip(ACCESS_MODES, ("ANY", "ADMIN_ONLY", "AUTHORIZED_ONLY", "UNBANNED_ONLY"), strict=True)
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pygnetic.state",
        description="Run the pygnetic state service, or manage its accounts and applications.",
    )
    add = parser.add_argument
    add("--db", default=DEFAULT_DATABASE, help=f"SQLite file (default {DEFAULT_DATABASE})")
    add("--redis", metavar="URL", help="use Redis at URL instead of SQLite (redis://host:port/0)")
    add(
        "--host",
        default="127.0.0.1",
        help="interface to listen on ('' for all; default 127.0.0.1)",
    )
    add("--port", type=int, default=STATE_PORT, help=f"port (default {STATE_PORT}; 0: any)")
    limits = StateLimits()
    add("--max-value-size", type=int, default=limits.max_value_size, help="bytes of one value")
    add("--max-variables", type=int, default=limits.max_variables, help="keys per application")
    add("--max-connections", type=int, default=256, help="connections at once")
    add(
        "--closed-accounts",
        action="store_true",
        help="clients may not create accounts; only the account command does",
    )
    add("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    account = commands.add_parser("account", help="add, delete or reset an account")
    account.add_argument("action", choices=["add", "password", "delete"])
    account.add_argument("email")
    account.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )
    commands.add_parser("apps", help="list the applications")
    delete = commands.add_parser("delete-app", help="delete an application and its data")
    delete.add_argument("appid")
    return parser


def _store(args: argparse.Namespace) -> Store:
    if args.redis:
        from ._redis import RedisStore

        return RedisStore(args.redis)
    return SQLiteStore(args.db)


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(f"password for {args.email}: ")
    if getpass.getpass("again: ") != first:
        raise SystemExit("the passwords differ; nothing changed")
    return first


def _account(store: Store, args: argparse.Namespace, limits: StateLimits) -> int:
    StateService(store, limits).email(args.email)  # one a client could log in with
    if args.action == "delete":
        if not store.delete_account(args.email):
            print(f"no account {args.email}", file=sys.stderr)
            return 1
        print(f"deleted the account {args.email}")
        return 0
    record = make_record(check_new_password(_password(args), limits.max_password_length))
    if args.action == "add":
        store.add_account(args.email, record, limits.max_accounts)
        print(f"added the account {args.email}")
    else:
        if store.account(args.email) is None:
            print(f"no account {args.email}", file=sys.stderr)
            return 1
        store.set_account(args.email, record)
        print(f"changed the password of {args.email}")
    return 0


def _apps(store: Store) -> int:
    for space in store.spaces():
        if space.kind == APP:
            modes = f"read {_MODE_NAMES[space.readmode]}, write {_MODE_NAMES[space.writemode]}"
            keys = len(store.names(space.key))
            print(f"{space.name}  admin {space.owner}  {modes}  {keys} key(s)")
    return 0


def _command(args: argparse.Namespace, limits: StateLimits) -> int:
    try:
        store = _store(args)
    except Exception as exc:  # a bad URL, an unreadable file, no redis-py
        print(f"cannot open the store: {exc}", file=sys.stderr)
        return 2
    try:
        if args.command == "account":
            return _account(store, args, limits)
        if args.command == "apps":
            return _apps(store)
        if not store.delete_space(space_key(APP, args.appid)):
            print(f"no application {args.appid}", file=sys.stderr)
            return 1
        print(f"deleted the application {args.appid}")
        return 0
    except StateError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()


def _serve(args: argparse.Namespace, limits: StateLimits) -> int:
    try:
        server = StateServer(
            _store(args),
            args.host,
            args.port,
            limits=limits,
            open_accounts=not args.closed_accounts,
            conn_limit=args.max_connections,
        )
    except (ValueError, OSError, StateError) as exc:
        print(f"cannot start the state service: {exc}", file=sys.stderr)
        return 2
    stopping: list[int] = []

    def stop(signum: int, frame: Any) -> None:
        stopping.append(signum)
        server.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    host, port = server.address
    print(f"listening on {host}:{port}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.close()
        server.store.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the service or an admin command; return the exit status."""
    args = _parser().parse_args(argv)
    _configure_logging(logging.getLevelName(args.log_level))
    try:
        limits = StateLimits(max_value_size=args.max_value_size, max_variables=args.max_variables)
    except ValueError as exc:
        print(f"bad limit: {exc}", file=sys.stderr)
        return 2
    if args.command is None:
        return _serve(args, limits)
    return _command(args, limits)


if __name__ == "__main__":
    raise SystemExit(main())
