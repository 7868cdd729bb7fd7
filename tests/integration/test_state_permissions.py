"""Who may read and write, in all 4 x 4 read and write modes, on both stores.

Five users: the app's admin, an authorized account, a banned one, another
logged-in account, and a client that never logged in.
"""

import itertools

import pytest
from state_servers import ServerThread

from pygnetic.state import (
    ADMIN_ONLY,
    ANY,
    AUTHORIZED_ONLY,
    UNBANNED_ONLY,
    DistributedState,
    PermissionError,
    SQLiteStore,
)

MODES = {"ANY": ANY, "ADMIN_ONLY": ADMIN_ONLY, "AUTHORIZED_ONLY": AUTHORIZED_ONLY,
         "UNBANNED_ONLY": UNBANNED_ONLY}  # fmt: skip
USERS = ("admin", "authorized", "banned", "other", "anonymous")
# Who each mode lets act: appstate's rules. ANY needs no login; AUTHORIZED_ONLY
# ignores bans; UNBANNED_ONLY lets in any logged-in account but the banned.
ALLOWED = {
    "ANY": set(USERS),
    "ADMIN_ONLY": {"admin"},
    "AUTHORIZED_ONLY": {"admin", "authorized"},
    "UNBANNED_ONLY": {"admin", "authorized", "other"},
}


@pytest.fixture(params=["sqlite", "redis"])
def clients(request, tmp_path):
    if request.param == "sqlite":
        store = SQLiteStore(tmp_path / "state.db")
    else:
        from pygnetic.state import RedisStore

        store = RedisStore(request.getfixturevalue("redis_url"))
    with ServerThread(store) as running:
        made = {}
        for user in USERS:
            made[user] = DistributedState(running.address)
            if user != "anonymous":
                email = f"{user}@example.com"
                made[user].create_account(email, f"{user}-password")
                made[user].login(email, f"{user}-password")
        yield made
        for client in made.values():
            client.close()
    store.close()


def test_every_mode_for_every_user(clients):
    admin = clients["admin"]
    apps = {}
    for (read, readmode), (write, writemode) in itertools.product(MODES.items(), repeat=2):
        appid = f"admin+{read}-{write}"
        admin.new_app(appid, readmode=readmode, writemode=writemode)
        admin["k"] = "start"
        admin.authorize("authorized@example.com")
        admin.ban("banned@example.com")
        admin.authorize("banned@example.com")  # a ban outweighs nothing in AUTHORIZED_ONLY
        apps[appid] = (read, write)
    outcomes = {}
    for user, client in clients.items():
        for appid in apps:
            client.join(appid)
            outcomes[user, appid, "read"] = _allowed(lambda c=client: c["k"])
            outcomes[user, appid, "write"] = _allowed(
                lambda c=client, u=user: c.__setitem__("k", u)
            )
    expected = {}
    for user in USERS:
        for appid, (read, write) in apps.items():
            expected[user, appid, "read"] = user in ALLOWED[read] or (
                user == "banned" and read == "AUTHORIZED_ONLY"
            )
            expected[user, appid, "write"] = user in ALLOWED[write] or (
                user == "banned" and write == "AUTHORIZED_ONLY"
            )
    wrong = sorted(key for key in expected if outcomes[key] != expected[key])
    assert not wrong, wrong


def _allowed(call):
    try:
        call()
    except PermissionError:
        return False
    return True


def test_a_ban_and_its_lifting_take_effect_at_once(clients):
    admin, banned = clients["admin"], clients["banned"]
    admin.new_app("admin+unbanned", readmode=UNBANNED_ONLY, writemode=UNBANNED_ONLY)
    admin["k"] = 1
    banned.join("admin+unbanned")
    assert banned["k"] == 1
    admin.ban("banned@example.com")
    with pytest.raises(PermissionError):
        banned["k"]
    admin.unban("banned@example.com")
    assert banned["k"] == 1
    admin.new_app("admin+authorized", readmode=AUTHORIZED_ONLY, writemode=AUTHORIZED_ONLY)
    admin["k"] = 2
    banned.join("admin+authorized")
    with pytest.raises(PermissionError):
        banned["k"]
    admin.authorize("banned@example.com")
    assert banned["k"] == 2
    admin.unauthorize("banned@example.com")
    with pytest.raises(PermissionError):
        banned["k"] = 3
