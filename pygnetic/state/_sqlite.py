"""The SQLite store: the state service's default, in one file, nothing to install.

The file is opened in WAL mode with ``synchronous=FULL``: a write the server
has answered is in the database file's journal, on disk, before the answer
leaves, so it survives the server being killed (``kill -9``) and, on a disk
that keeps its promises, a power cut. One server uses one file; several
servers need the Redis store.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator

from ._model import ABSENT, FIFO, LIFO, MULTI, SINGLE, Entry, Queued, Space, StateLimits, Stored
from ._store import (
    Store,
    account_exists,
    changed,
    full,
    full_queue,
    has_role,
    lacks_role,
    mode_differs,
    no_space,
    no_value,
    no_value_to_swap,
    space_exists,
)

__all__ = ["SQLiteStore"]

_SCHEMA_VERSION = "2"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS spaces (
    key TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    owner TEXT,
    readmode INTEGER NOT NULL,
    writemode INTEGER NOT NULL,
    persistent INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS spaces_by_owner ON spaces (owner);
-- A variable: its mode, its lease holder and the hash of its value. An
-- application's or a dictionary's variable keeps its value here; a
-- workspace's keeps its values in "queued", their number in count and the
-- number the next one gets in next_seq.
CREATE TABLE IF NOT EXISTS variables (
    space TEXT NOT NULL REFERENCES spaces (key) ON DELETE CASCADE,
    name TEXT NOT NULL,
    mode TEXT NOT NULL,
    holder TEXT,
    lease_until REAL,
    hash TEXT NOT NULL,
    data BLOB,
    count INTEGER NOT NULL DEFAULT 0,
    next_seq INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (space, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS queued (
    space TEXT NOT NULL,
    name TEXT NOT NULL,
    seq INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (space, name, seq),
    FOREIGN KEY (space, name) REFERENCES variables (space, name) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS members (
    space TEXT NOT NULL REFERENCES spaces (key) ON DELETE CASCADE,
    role TEXT NOT NULL,
    email TEXT NOT NULL,
    PRIMARY KEY (space, role, email)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS accounts (email TEXT PRIMARY KEY, record BLOB NOT NULL);
"""


class SQLiteStore(Store):
    """Keeps the state service's data in one SQLite file.

    Args:
        path: The database file, made if missing (``':memory:'`` for a
            throwaway store, as tests use).
        synchronous: SQLite's ``synchronous`` setting: ``'FULL'`` (default,
            every commit on disk), or ``'NORMAL'`` (faster; in WAL mode a
            commit survives the server's crash but maybe not the machine's).

    One thread at a time may use it (the state server's), whichever thread that is.

    Attributes:
        path: As given.
    """

    name = "sqlite"
    transactional = True
    failures = (sqlite3.Error, OSError)

    def __init__(self, path: str | os.PathLike[str], *, synchronous: str = "FULL") -> None:
        if synchronous.upper() not in ("FULL", "NORMAL", "EXTRA"):
            raise ValueError(
                f"synchronous must be 'FULL', 'NORMAL' or 'EXTRA', not {synchronous!r}"
            )
        self.path = path
        # Autocommit: this class opens its own transactions, so that it knows
        # exactly when a write is committed.
        self._db = sqlite3.connect(os.fspath(path), isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._depth = 0
        self._create_schema()

    def __repr__(self) -> str:
        return f"<SQLiteStore {os.fspath(self.path)!r}>"

    def _create_schema(self) -> None:
        db = self._db
        db.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")
        row = db.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
        if row is not None and row[0] == "1":
            # Schema 1 (pygnetic's state service part 1) lacks the queue counters.
            db.executescript(
                "BEGIN IMMEDIATE;"
                "ALTER TABLE variables ADD COLUMN count INTEGER NOT NULL DEFAULT 0;"
                "ALTER TABLE variables ADD COLUMN next_seq INTEGER NOT NULL DEFAULT 1;"
                "UPDATE meta SET value = '2' WHERE name = 'schema';"
                "COMMIT;"
            )
            row = ("2",)
        if row is None:
            db.execute("INSERT INTO meta VALUES ('schema', ?)", (_SCHEMA_VERSION,))
        elif row[0] != _SCHEMA_VERSION:
            raise ValueError(
                f"{os.fspath(self.path)!r} holds a state store of schema {row[0]!r}; "
                f"this pygnetic reads schema {_SCHEMA_VERSION!r}"
            )

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, or a part of the batch already open."""
        db = self._db
        if self._depth:
            yield db
            return
        db.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield db
        except BaseException:
            self._depth = 0
            db.execute("ROLLBACK")
            raise
        self._depth = 0
        db.execute("COMMIT")

    @contextlib.contextmanager
    def batch(self, writes: bool = True) -> Iterator[None]:
        """Make the writes inside one transaction, committed (on disk) before the block ends.

        A batch that only reads runs without one: each select stands alone,
        and no write lock is taken.
        """
        if not writes:
            yield
            return
        with self._transaction():
            yield

    # -- spaces --------------------------------------------------------------------

    def create_space(self, space: Space, limits: StateLimits) -> None:
        """Make ``space``; see :meth:`Store.create_space`."""
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM spaces WHERE key = ?", (space.key,)).fetchone():
                raise space_exists(space)
            (count,) = db.execute("SELECT count(*) FROM spaces").fetchone()
            if count >= limits.max_spaces:
                raise full("the service holds its most spaces", limits.max_spaces)
            if space.owner is not None:
                (owned,) = db.execute(
                    "SELECT count(*) FROM spaces WHERE owner = ?", (space.owner,)
                ).fetchone()
                if owned >= limits.max_spaces_per_owner:
                    raise full("the account owns its most spaces", limits.max_spaces_per_owner)
            db.execute(
                "INSERT INTO spaces VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    space.key,
                    space.kind,
                    space.name,
                    space.owner,
                    space.readmode,
                    space.writemode,
                    int(space.persistent),
                ),
            )

    def get_space(self, key: str) -> Space | None:
        """Return the space ``key``, or None."""
        row = self._db.execute(
            "SELECT name, kind, owner, readmode, writemode, persistent FROM spaces WHERE key = ?",
            (key,),
        ).fetchone()
        return None if row is None else _space(row)

    def delete_space(self, key: str) -> bool:
        """Delete the space ``key`` and everything in it; False if there was none."""
        with self._transaction() as db:
            return db.execute("DELETE FROM spaces WHERE key = ?", (key,)).rowcount > 0

    def claim_space(
        self, key: str, owner: str, persistent: bool, max_spaces_per_owner: int
    ) -> Space | None:
        """Make ``owner`` the owner of an unowned space; see :meth:`Store.claim_space`."""
        with self._transaction() as db:
            (owned,) = db.execute(
                "SELECT count(*) FROM spaces WHERE owner = ?", (owner,)
            ).fetchone()
            if owned >= max_spaces_per_owner:
                return None
            db.execute(
                "UPDATE spaces SET owner = ?, persistent = ? WHERE key = ? AND owner IS NULL",
                (owner, int(persistent), key),
            )
        space = self.get_space(key)
        return space if space is not None and space.owner == owner else None

    def spaces(self) -> list[Space]:
        """Return every space, ordered by key."""
        rows = self._db.execute(
            "SELECT name, kind, owner, readmode, writemode, persistent FROM spaces ORDER BY key"
        )
        return [_space(row) for row in rows]

    # -- variables -----------------------------------------------------------------

    def get(self, key: str, name: str) -> Stored | None:
        """Return the value of ``name`` in space ``key``, or None."""
        row = self._db.execute(
            "SELECT data, hash FROM variables WHERE space = ? AND name = ?", (key, name)
        ).fetchone()
        return None if row is None else Stored(row[0], row[1])

    def read(self, key: str, name: str) -> tuple[Space | None, Stored | None]:
        """Return the space ``key`` and the value of ``name`` in it, in one select."""
        row = self._db.execute(
            "SELECT s.name, s.kind, s.owner, s.readmode, s.writemode, s.persistent, v.data, v.hash"
            " FROM spaces AS s LEFT JOIN variables AS v ON v.space = s.key AND v.name = ?"
            " WHERE s.key = ?",
            (name, key),
        ).fetchone()
        if row is None:
            return None, None
        stored = None if row[7] is None else Stored(row[6], row[7])
        return _space(row[:6]), stored

    def names(self, key: str) -> list[str]:
        """Return the names of the variables of space ``key``, sorted."""
        rows = self._db.execute("SELECT name FROM variables WHERE space = ? ORDER BY name", (key,))
        return [row[0] for row in rows]

    def put(
        self, key: str, name: str, value: Stored, expect: str | None, max_variables: int
    ) -> None:
        """Set ``name`` in space ``key``; see :meth:`Store.put`."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT hash FROM variables WHERE space = ? AND name = ?", (key, name)
            ).fetchone()
            if row is None:
                self._check_room(db, key, expect, max_variables)
                db.execute(
                    "INSERT INTO variables (space, name, mode, hash, data) VALUES (?, ?, ?, ?, ?)",
                    (key, name, SINGLE, value.hash, value.data),
                )
                return
            if expect is not None and row[0] != expect:
                raise changed(name, expect)
            db.execute(
                "UPDATE variables SET hash = ?, data = ? WHERE space = ? AND name = ?",
                (value.hash, value.data, key, name),
            )

    def _check_room(
        self, db: sqlite3.Connection, key: str, expect: str | None, max_variables: int
    ) -> None:
        if expect is not None and expect != ABSENT:
            raise no_value_to_swap(expect)
        if not db.execute("SELECT 1 FROM spaces WHERE key = ?", (key,)).fetchone():
            raise no_space(key)
        (count,) = db.execute("SELECT count(*) FROM variables WHERE space = ?", (key,)).fetchone()
        if count >= max_variables:
            raise full("the space holds its most keys", max_variables)

    def remove(self, key: str, name: str, expect: str | None) -> None:
        """Delete ``name`` in space ``key``; see :meth:`Store.remove`."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT hash FROM variables WHERE space = ? AND name = ?", (key, name)
            ).fetchone()
            if row is None:
                if not db.execute("SELECT 1 FROM spaces WHERE key = ?", (key,)).fetchone():
                    raise no_space(key)
                raise no_value(name)
            if expect is not None and row[0] != expect:
                raise changed(name, expect)
            db.execute("DELETE FROM variables WHERE space = ? AND name = ?", (key, name))

    # -- workspace variables -------------------------------------------------------

    def declare(self, key: str, name: str, mode: str, max_variables: int) -> None:
        """Make a queue variable unless it exists; see :meth:`Store.declare`."""
        with self._transaction() as db:
            self._queue_variable(db, key, name, mode, max_variables)

    def _queue_variable(
        self, db: sqlite3.Connection, key: str, name: str, mode: str | None, max_variables: int
    ) -> tuple[str, int, int]:
        """The variable's mode, count and next number, made with ``mode`` (None: FIFO) if new."""
        row = db.execute(
            "SELECT mode, count, next_seq FROM variables WHERE space = ? AND name = ?",
            (key, name),
        ).fetchone()
        if row is not None:
            if mode is not None and row[0] != mode:
                raise mode_differs(name, row[0], mode)
            return row[0], row[1], row[2]
        self._check_room(db, key, None, max_variables)
        mode = mode or FIFO
        db.execute(
            "INSERT INTO variables (space, name, mode, hash) VALUES (?, ?, ?, '')",
            (key, name, mode),
        )
        return mode, 0, 1

    def enqueue(
        self, key: str, name: str, data: bytes, max_variables: int, max_values: int
    ) -> None:
        """Store a value in a queue variable; see :meth:`Store.enqueue`."""
        with self._transaction() as db:
            mode, count, seq = self._queue_variable(db, key, name, None, max_variables)
            if mode == SINGLE:
                db.execute("DELETE FROM queued WHERE space = ? AND name = ?", (key, name))
                count = 0
            elif count >= max_values:
                raise full_queue(name, max_values)
            db.execute(
                "UPDATE variables SET next_seq = ?, count = ? WHERE space = ? AND name = ?",
                (seq + 1, count + 1, key, name),
            )
            db.execute("INSERT INTO queued VALUES (?, ?, ?, ?)", (key, name, seq, data))

    def dequeue(self, key: str, name: str) -> Queued | None:
        """Remove and return the value a fetch gets; see :meth:`Store.dequeue`."""
        with self._transaction() as db:
            found = self._pick(db, key, name, 0)
            if found is not None:
                db.execute(
                    "DELETE FROM queued WHERE space = ? AND name = ? AND seq = ?",
                    (key, name, found.seq),
                )
                db.execute(
                    "UPDATE variables SET count = count - 1 WHERE space = ? AND name = ?",
                    (key, name),
                )
            return found

    def peek(self, key: str, name: str, after: int = 0) -> Queued | None:
        """Return the value a find gets; see :meth:`Store.peek`."""
        return self._pick(self._db, key, name, after)

    @staticmethod
    def _pick(db: sqlite3.Connection, key: str, name: str, after: int) -> Queued | None:
        row = db.execute(
            "SELECT mode FROM variables WHERE space = ? AND name = ?", (key, name)
        ).fetchone()
        if row is None:
            return None
        order = _ORDER[row[0]]
        found = db.execute(
            f"SELECT seq, data FROM queued WHERE space = ? AND name = ? AND seq > ? {order}",
            (key, name, after),
        ).fetchone()
        return None if found is None else Queued(found[0], found[1])

    def mode(self, key: str, name: str) -> str | None:
        """Return the mode of a queue variable, or None."""
        row = self._db.execute(
            "SELECT mode FROM variables WHERE space = ? AND name = ?", (key, name)
        ).fetchone()
        return None if row is None else str(row[0])

    def delete_variable(self, key: str, name: str) -> bool:
        """Delete a queue variable and its values; False if there was none."""
        with self._transaction() as db:
            return (
                db.execute(
                    "DELETE FROM variables WHERE space = ? AND name = ?", (key, name)
                ).rowcount
                > 0
            )

    def variables(self, key: str) -> list[tuple[str, str, int]]:
        """Return ``(name, mode, count)`` of each queue variable of space ``key``."""
        rows = self._db.execute(
            "SELECT name, mode, count FROM variables WHERE space = ? ORDER BY name", (key,)
        )
        return [(str(name), str(mode), int(count)) for name, mode, count in rows]

    # -- synced dictionaries -------------------------------------------------------

    def put_leased(self, key: str, value: Entry, now: float, max_variables: int) -> Entry | None:
        """Set a key unless another holds its lease; see :meth:`Store.put_leased`."""
        with self._transaction() as db:
            current = self._entry(db, key, value.name)
            if current is None:
                self._check_room(db, key, None, max_variables)
            elif _leased_to_another(current, value.holder, now):
                return current
            db.execute(
                "INSERT OR REPLACE INTO variables (space, name, mode, holder, lease_until,"
                " hash, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    value.name,
                    SINGLE,
                    value.holder if value.lease_until else None,
                    value.lease_until,
                    value.hash,
                    value.data,
                ),
            )
            return None

    def remove_leased(self, key: str, name: str, holder: str, now: float) -> Entry:
        """Delete a key unless another holds its lease; see :meth:`Store.remove_leased`."""
        with self._transaction() as db:
            current = self._entry(db, key, name)
            if current is None:
                self._check_space(db, key)
                raise no_value(name)
            if not _leased_to_another(current, holder, now):
                db.execute("DELETE FROM variables WHERE space = ? AND name = ?", (key, name))
            return current

    @staticmethod
    def _entry(db: sqlite3.Connection, key: str, name: str) -> Entry | None:
        row = db.execute(
            "SELECT data, hash, holder, lease_until FROM variables WHERE space = ? AND name = ?",
            (key, name),
        ).fetchone()
        return None if row is None else Entry(name, row[0], row[1], row[2], row[3] or 0.0)

    def entries(self, key: str, after: str, limit: int) -> list[Entry]:
        """Return up to ``limit`` entries of a dictionary named after ``after``."""
        rows = self._db.execute(
            "SELECT name, data, hash, holder, lease_until FROM variables"
            " WHERE space = ? AND name > ? ORDER BY name LIMIT ?",
            (key, after, limit),
        )
        return [Entry(n, d, h, holder, until or 0.0) for n, d, h, holder, until in rows]

    # -- grants --------------------------------------------------------------------

    def grant(self, key: str, role: str, email: str, max_members: int) -> None:
        """Give ``email`` the ``role`` in space ``key``; see :meth:`Store.grant`."""
        with self._transaction() as db:
            self._check_space(db, key)
            if self._has_role(db, key, role, email):
                raise has_role(email, role)
            (count,) = db.execute(
                "SELECT count(*) FROM members WHERE space = ?", (key,)
            ).fetchone()
            if count >= max_members:
                raise full("the space holds its most grants and bans", max_members)
            db.execute("INSERT INTO members VALUES (?, ?, ?)", (key, role, email))

    def revoke(self, key: str, role: str, email: str) -> None:
        """Take the ``role`` in space ``key`` from ``email``; see :meth:`Store.revoke`."""
        with self._transaction() as db:
            self._check_space(db, key)
            deleted = db.execute(
                "DELETE FROM members WHERE space = ? AND role = ? AND email = ?",
                (key, role, email),
            ).rowcount
            if not deleted:
                raise lacks_role(email, role)

    def roles(self, key: str, email: str) -> frozenset[str]:
        """Return the roles of ``email`` in space ``key``."""
        rows = self._db.execute(
            "SELECT role FROM members WHERE space = ? AND email = ?", (key, email)
        )
        return frozenset(row[0] for row in rows)

    @staticmethod
    def _check_space(db: sqlite3.Connection, key: str) -> None:
        if not db.execute("SELECT 1 FROM spaces WHERE key = ?", (key,)).fetchone():
            raise no_space(key)

    @staticmethod
    def _has_role(db: sqlite3.Connection, key: str, role: str, email: str) -> bool:
        row = db.execute(
            "SELECT 1 FROM members WHERE space = ? AND role = ? AND email = ?", (key, role, email)
        ).fetchone()
        return row is not None

    # -- accounts ------------------------------------------------------------------

    def add_account(self, email: str, record: bytes, max_accounts: int) -> None:
        """Create the account ``email``; see :meth:`Store.add_account`."""
        with self._transaction() as db:
            if db.execute("SELECT 1 FROM accounts WHERE email = ?", (email,)).fetchone():
                raise account_exists(email)
            (count,) = db.execute("SELECT count(*) FROM accounts").fetchone()
            if count >= max_accounts:
                raise full("the service holds its most accounts", max_accounts)
            db.execute("INSERT INTO accounts VALUES (?, ?)", (email, record))

    def set_account(self, email: str, record: bytes) -> None:
        """Create or replace the account ``email``."""
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO accounts VALUES (?, ?)", (email, record))

    def account(self, email: str) -> bytes | None:
        """Return the password record of ``email``, or None."""
        row = self._db.execute("SELECT record FROM accounts WHERE email = ?", (email,)).fetchone()
        return None if row is None else bytes(row[0])

    def delete_account(self, email: str) -> bool:
        """Delete the account ``email``; False if there was none."""
        with self._transaction() as db:
            return db.execute("DELETE FROM accounts WHERE email = ?", (email,)).rowcount > 0

    def version(self) -> str:
        """Return ``'sqlite X.Y.Z'``."""
        return f"sqlite {sqlite3.sqlite_version}"

    def close(self) -> None:
        """Close the database file."""
        self._db.close()


# Which value of a queue a fetch or find gets, by the variable's mode.
_ORDER = {
    FIFO: "ORDER BY seq LIMIT 1",
    SINGLE: "ORDER BY seq LIMIT 1",
    LIFO: "ORDER BY seq DESC LIMIT 1",
    MULTI: "ORDER BY random() LIMIT 1",
}


def _leased_to_another(entry: Entry, holder: str | None, now: float) -> bool:
    """True if someone other than ``holder`` holds ``entry``'s lease at ``now``."""
    return entry.holder is not None and entry.holder != holder and entry.lease_until > now


def _space(row: tuple[object, ...]) -> Space:
    name, kind, owner, readmode, writemode, persistent = row
    return Space(str(name), str(kind), owner, int(readmode), int(writemode), bool(persistent))  # type: ignore[arg-type, call-overload]
