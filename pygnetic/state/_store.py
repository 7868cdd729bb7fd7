"""What a store of the state service does: the contract both stores keep.

A store is the only place the service's data lives. The state server calls
it from its loop, one operation at a time; several servers may share one
store where the store allows it (Redis). Every check that decides an
operation (the space exists, the hash is the expected one, the space has
room) is made atomically with the write it guards, inside the store, so two
servers racing on one key cannot both win.

Space names given to a store are :attr:`Space.key <pygnetic.state.Space.key>`
(kind and name together). Role names are :data:`AUTHORIZED` and :data:`BANNED`.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator

from ._errors import (
    AppIdError,
    DeclarationError,
    DuplicateError,
    NoSuchKeyError,
    QuotaError,
    UpdateFailedError,
)
from ._model import Entry, Queued, Space, StateLimits, Stored

__all__ = ["AUTHORIZED", "BANNED", "ROLES", "Store"]

#: Role of an account the admin authorized.
AUTHORIZED = "authorized"
#: Role of an account the admin banned.
BANNED = "banned"
ROLES = (AUTHORIZED, BANNED)


class Store(ABC):
    """Where a state service keeps its spaces, variables, grants and accounts.

    Implementations: :class:`~pygnetic.state.SQLiteStore` and
    :class:`~pygnetic.state.RedisStore`. Each method raises the
    :mod:`pygnetic.state` exception named in its docstring; anything else is
    the store failing (a full disk, a lost Redis), which the server answers
    with :exc:`~pygnetic.state.UnexpectedError` and logs.

    Attributes:
        name: Short name for logs and ``version()`` (``'sqlite'``, ``'redis'``).
    """

    name = "store"
    #: Whether :meth:`batch` undoes the whole batch when it fails; else each
    #: write stands once made, and only the failing request is refused.
    transactional = False
    #: The exceptions that mean the store itself failed (a full disk, a lost
    #: connection): the server then refuses the whole batch it was serving.
    failures: tuple[type[BaseException], ...] = (OSError,)
    #: Whether other servers may write to it too (Redis): then a server hears
    #: of their changes, and does not take a workspace without a living
    #: owner for an orphan when it starts.
    shared = False

    # -- spaces --------------------------------------------------------------------

    @abstractmethod
    def create_space(self, space: Space, limits: StateLimits) -> None:
        """Make ``space``.

        Raises:
            DuplicateError: A space with that key exists.
            QuotaError: The store holds ``limits.max_spaces`` spaces, or the
                owner ``limits.max_spaces_per_owner``.
        """

    @abstractmethod
    def get_space(self, key: str) -> Space | None:
        """Return the space ``key``, or None."""

    @abstractmethod
    def delete_space(self, key: str) -> bool:
        """Delete the space ``key`` with its variables and grants; False if there was none."""

    @abstractmethod
    def claim_space(
        self, key: str, owner: str, persistent: bool, max_spaces_per_owner: int
    ) -> Space | None:
        """Make ``owner`` the owner of the space ``key`` if it has none, setting ``persistent``.

        Returns:
            The space as it is now if ``owner`` owns it, else None (another
            owns it, there is no such space, or ``owner`` owns
            ``max_spaces_per_owner`` spaces already).
        """

    @abstractmethod
    def spaces(self) -> list[Space]:
        """Return every space, for the admin commands (ordered by key)."""

    # -- variables -----------------------------------------------------------------

    @abstractmethod
    def get(self, key: str, name: str) -> Stored | None:
        """Return the value of variable ``name`` of space ``key``, or None if it has none."""

    def read(self, key: str, name: str) -> tuple[Space | None, Stored | None]:
        """Return the space ``key`` and the value of its variable ``name``, read together.

        One consistent look, so that the permission the space grants is the
        one that held when the value was read. The default makes two reads;
        the stores make one.
        """
        return self.get_space(key), self.get(key, name)

    @abstractmethod
    def names(self, key: str) -> list[str]:
        """Return the names of the variables of space ``key`` that hold a value, sorted."""

    @abstractmethod
    def put(
        self, key: str, name: str, value: Stored, expect: str | None, max_variables: int
    ) -> None:
        """Set variable ``name`` of space ``key`` to ``value``.

        Args:
            key: The space.
            name: The variable.
            value: Its new value.
            expect: None to write whatever is there; else the hash the
                current value must have (:data:`~pygnetic.state._model.ABSENT`
                for none), checked atomically with the write.
            max_variables: The space's quota, checked when ``name`` is new.

        Raises:
            AppIdError: There is no space ``key``.
            UpdateFailedError: ``expect`` is not the current hash.
            QuotaError: ``name`` is new and the space holds ``max_variables``.
        """

    @abstractmethod
    def remove(self, key: str, name: str, expect: str | None) -> None:
        """Delete variable ``name`` of space ``key``.

        Raises:
            AppIdError: There is no space ``key``.
            NoSuchKeyError: It has no value.
            UpdateFailedError: ``expect`` is given and is not the current hash.
        """

    # -- workspace variables (value queues) ----------------------------------------

    @abstractmethod
    def declare(self, key: str, name: str, mode: str, max_variables: int) -> None:
        """Make the queue variable ``name`` of space ``key`` with ``mode``, unless it exists.

        Raises:
            AppIdError: There is no space ``key``.
            DeclarationError: It exists with another mode (a mode never changes).
            QuotaError: It is new and the space holds ``max_variables``.
        """

    @abstractmethod
    def enqueue(
        self, key: str, name: str, data: bytes, max_variables: int, max_values: int
    ) -> None:
        """Store a value in the queue variable ``name``, made :data:`FIFO` if new.

        A :data:`SINGLE` variable's value is replaced; the others add one.
        Each value stored gets the variable's next number.

        Raises:
            AppIdError: There is no space ``key``.
            QuotaError: ``name`` is new and the space holds ``max_variables``,
                or it holds ``max_values`` values (and is not SINGLE).
        """

    @abstractmethod
    def dequeue(self, key: str, name: str) -> Queued | None:
        """Remove and return the value a fetch gets, or None if there is none.

        :data:`FIFO` and :data:`SINGLE`: the oldest; :data:`LIFO`: the newest;
        :data:`MULTI`: any one. Atomic: of servers racing for one value,
        exactly one gets it.
        """

    @abstractmethod
    def peek(self, key: str, name: str, after: int = 0) -> Queued | None:
        """Return the value a find gets, leaving it there, or None if there is none.

        Args:
            key: The space.
            name: The variable.
            after: Only a value numbered above it (an ``ifind`` iterator's
                last one); FIFO and SINGLE only, 0 otherwise.
        """

    @abstractmethod
    def mode(self, key: str, name: str) -> str | None:
        """Return the mode of the queue variable ``name``, or None if it does not exist."""

    @abstractmethod
    def delete_variable(self, key: str, name: str) -> bool:
        """Delete the queue variable ``name`` with its values; False if there was none."""

    @abstractmethod
    def variables(self, key: str) -> list[tuple[str, str, int]]:
        """Return ``(name, mode, number of values)`` of each queue variable, sorted by name."""

    # -- synced dictionaries (values with leases) ----------------------------------

    @abstractmethod
    def put_leased(
        self,
        key: str,
        value: Entry,
        now: float,
        max_variables: int,
    ) -> Entry | None:
        """Set a key of the dictionary ``key`` unless another writer holds its lease.

        ``value.holder`` is the writer; ``value.lease_until`` the lease it
        takes (0: none, and any lease of its own ends). It may write if the
        key has no value, its lease has lapsed (``lease_until <= now``), it
        has none, or the writer holds it.

        Returns:
            None when written; else the entry as it stands, whose holder
            keeps the lease.

        Raises:
            AppIdError: There is no space ``key``.
            QuotaError: The key is new and the space holds ``max_variables``.
        """

    @abstractmethod
    def remove_leased(self, key: str, name: str, holder: str, now: float) -> Entry:
        """Delete a key of the dictionary ``key``, unless another writer holds its lease.

        Returns:
            The entry as it was: deleted if its holder was ``holder``, None or
            lapsed; else left as it is (compare its holder).

        Raises:
            AppIdError: There is no space ``key``.
            NoSuchKeyError: The key has no value.
        """

    @abstractmethod
    def entries(self, key: str, after: str, limit: int) -> list[Entry]:
        """Return up to ``limit`` entries of dictionary ``key`` named after ``after``, by name."""

    # -- grants --------------------------------------------------------------------

    @abstractmethod
    def grant(self, key: str, role: str, email: str, max_members: int) -> None:
        """Give ``email`` the ``role`` in space ``key``.

        Raises:
            AppIdError: There is no space ``key``.
            DuplicateError: It has that role already.
            QuotaError: The space holds ``max_members`` grants.
        """

    @abstractmethod
    def revoke(self, key: str, role: str, email: str) -> None:
        """Take the ``role`` in space ``key`` from ``email``.

        Raises:
            AppIdError: There is no space ``key``.
            DuplicateError: It does not have that role.
        """

    @abstractmethod
    def roles(self, key: str, email: str) -> frozenset[str]:
        """Return the roles ``email`` has in space ``key``."""

    # -- accounts ------------------------------------------------------------------

    @abstractmethod
    def add_account(self, email: str, record: bytes, max_accounts: int) -> None:
        """Create the account ``email`` with its password ``record``.

        Raises:
            DuplicateError: It exists.
            QuotaError: The store holds ``max_accounts`` accounts.
        """

    @abstractmethod
    def set_account(self, email: str, record: bytes) -> None:
        """Create or replace the account ``email`` (the admin command's password reset)."""

    @abstractmethod
    def account(self, email: str) -> bytes | None:
        """Return the password record of ``email``, or None."""

    @abstractmethod
    def delete_account(self, email: str) -> bool:
        """Delete the account ``email``; False if there was none."""

    # -- the server's loop ---------------------------------------------------------

    @contextlib.contextmanager
    def batch(self, writes: bool = True) -> Iterator[None]:
        """Group the writes made inside into one commit, made before the block ends.

        The server answers the requests of a batch only after it ends, so an
        answered write is a committed one. On an exception nothing of the
        batch is kept (where the store can undo it) and the exception goes on.
        The default groups nothing: each write commits on its own.

        Args:
            writes: False when the server knows the batch only reads, so
                that the store need not prepare for a commit.
        """
        yield

    def changed_elsewhere(self, watching: bool = True) -> list[tuple[str, str]]:
        """Return ``(space key, name)`` of what other servers changed since the last call.

        For the watches of clients of this server; a deleted space comes as
        its key with the name ``''``, which no variable has. The default:
        none, since nothing else writes to the store.

        Args:
            watching: Whether any client of this server watches a key. When
                False the store may stop hearing of variables' changes (they
                would cost it for nothing) and report deleted spaces only.
        """
        return []

    def fileno(self) -> int | None:
        """A descriptor readable when :meth:`changed_elsewhere` has news, or None (the default)."""
        return None

    def version(self) -> str:
        """Return the store's name and version, for ``DistributedState.version()``."""
        return self.name

    @abstractmethod
    def close(self) -> None:
        """Release the store's files or connections; it may not be used after."""


# -- what every store refuses with, worded once --------------------------------------


def no_space(key: str) -> AppIdError:
    """There is no space ``key``."""
    return AppIdError(f"there is no space {key!r}")


def space_exists(space: Space) -> DuplicateError:
    """A space of that kind and name exists."""
    return DuplicateError(f"{space.kind} {space.name!r} exists already")


def changed(name: str, expect: str | None) -> UpdateFailedError:
    """The variable's hash is not the one expected."""
    return UpdateFailedError(f"{name!r} has changed (its hash is not {expect!r})")


def no_value_to_swap(expect: str | None) -> UpdateFailedError:
    """A compare-and-swap expected a value where there is none."""
    return UpdateFailedError(f"the key has no value (its hash is not {expect!r})")


def no_value(name: str) -> NoSuchKeyError:
    """The variable has no value."""
    return NoSuchKeyError(f"{name!r} has no value")


def mode_differs(name: str, mode: str, wanted: str) -> DeclarationError:
    """A variable was declared with another mode than its own."""
    return DeclarationError(f"{name!r} is a {mode} variable; a mode never changes (not {wanted})")


def full_queue(name: str, limit: int) -> QuotaError:
    """A queue variable holds its most values."""
    return QuotaError(f"{name!r} holds its most values ({limit})")


def has_role(email: str, role: str) -> DuplicateError:
    """The account has the role already."""
    return DuplicateError(f"{email!r} is {role} already")


def lacks_role(email: str, role: str) -> DuplicateError:
    """The account does not have the role."""
    return DuplicateError(f"{email!r} is not {role}")


def account_exists(email: str) -> DuplicateError:
    """The account exists."""
    return DuplicateError(f"the account {email!r} exists already")


def full(what: str, limit: int) -> QuotaError:
    """A quota is reached: ``what`` is e.g. ``'the space holds its most keys'``."""
    return QuotaError(f"{what} ({limit})")
