"""Which pending handshake gives way to a newcomer, and how addresses are counted."""

import pytest

from pygnetic._handshakes import Handshakes, address_key


def _table(capacity, per_address, *arrivals):
    """A table holding ``arrivals``: (name, address) pairs, oldest first."""
    table = Handshakes(capacity, per_address)
    for deadline, (name, address) in enumerate(arrivals):
        table.add(name, address, deadline)
    return table


def test_no_one_gives_way_while_there_is_room():
    table = _table(4, 2, ("a1", "A"), ("b1", "B"))
    assert table.victim("A") is None
    assert table.victim("C") is None


def test_an_address_at_its_share_replaces_its_own_oldest():
    table = _table(10, 2, ("a1", "A"), ("b1", "B"), ("a2", "A"))
    assert table.victim("A") == "a1"


def test_a_full_table_takes_from_the_address_holding_the_most():
    table = _table(5, 5, ("b1", "B"), ("a1", "A"), ("a2", "A"), ("a3", "A"), ("c1", "C"))
    assert table.victim("D") == "a1"  # not b1, the oldest of all
    assert table.victim("B") == "a1"


def test_a_full_table_takes_from_the_newcomers_own_address_when_no_one_holds_more():
    table = _table(4, 4, ("a1", "A"), ("b1", "B"), ("a2", "A"), ("b2", "B"))
    assert table.victim("B") == "b1"
    assert table.victim("A") == "a1"


def test_of_addresses_holding_as_many_the_one_waiting_longest_gives_way():
    table = _table(4, 4, ("b1", "B"), ("a1", "A"), ("a2", "A"), ("b2", "B"))
    assert table.victim("C") == "b1"


def test_idle_holders_from_one_address_never_lock_out_another():
    table = Handshakes(6, 6)
    for number in range(6):
        table.add(f"idle{number}", "A", number)
    for number in range(100):  # the attacker keeps opening links
        victim = table.victim("A")
        table.pop(victim)
        table.add(f"more{number}", "A", 10 + number)
    assert table.victim("B") is not None  # a player still gets in...
    table.pop(table.victim("B"))
    table.add("player", "B", 200)
    for number in range(100):  # ...and the attacker cannot push them out
        victim = table.victim("A")
        assert victim != "player"
        table.pop(victim)
        table.add(f"again{number}", "A", 300 + number)
    assert "player" in table


def test_pop_and_expired_keep_the_counts():
    table = _table(3, 3, ("a1", "A"), ("a2", "A"), ("b1", "B"))
    assert table.expired(1) == ["a1", "a2"]
    assert table.pop("a1") and table.pop("a2")
    assert not table.pop("a2")
    assert len(table) == 1 and list(table) == ["b1"]
    assert table.victim("B") is None


@pytest.mark.parametrize(
    ("host", "key"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"),
        ("fe80::1%eth0", "fe80::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("memory", "memory"),
    ],
)
def test_addresses_count_by_ip_and_ipv6_by_its_64_network(host, key):
    assert address_key(host) == key


def test_auth_failures_keep_an_address_over_the_limit_through_a_flood_of_others():
    from pygnetic._handshakes import AuthFailures

    failures = AuthFailures(limit=3, addresses=100)
    for _ in range(3):
        failures.failed("guesser", 0.0)
    assert failures.wait("guesser", 1.0) > 0
    for n in range(1000):  # other addresses, each failing once
        failures.failed(f"10.0.{n // 256}.{n % 256}", 1.0)
    assert len(failures._failures) <= 101
    assert failures.wait("guesser", 2.0) > 0  # still refused
    assert failures.wait("guesser", 61.0) == 0  # a minute later, free again
