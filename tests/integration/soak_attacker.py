"""The soak test's attacker: one attack at a time, in a process of its own, from 127.0.0.2.

Usage: python soak_attacker.py PORT CONN_LIMIT

Prints ``{"ready": true}`` once it can start. Commands, one per line on stdin:

``start NAME``
    Start the attack of the phase NAME of :func:`attack_plan`. A one-shot
    attack prints its report when it is done.
``stop``
    Stop the running attack and print its report (nothing if none runs).

A report is one JSON line: ``{"phase": NAME, "stats": {...}}``, with
``"error"`` too if the attack itself failed. The process runs at
:data:`NICE`: on a small machine an attacker as fast as it can be would
otherwise take the CPU the good clients need, which an attacker on a machine
of its own does not; this way it takes all the CPU they leave.
"""

import json
import os
import select
import sys
import traceback

import attacks
from soak_server import soak_factory

import pygnetic.adapters.network.enet as enet_adapter
import pygnetic.server

#: How much lower than the server's and the clients' the attacker's priority is.
NICE = 10
#: Steps of an eager attack between two looks at stdin.
STEPS_PER_LOOK = 64


def attack_plan(conn_limit):
    """(phase name, attack class, options, fewest seconds) of every attack of issue 11, in order.

    The fewest seconds, where not None, are for an effect that takes time to
    show: a server that drops connections that send bytes but never answer a
    ping (the slow drip) can do so only after its ``timeout``, 10 s.

    Issue 11's lockout attacks hold 12 handshakes or ENet peer slots: more
    than the 4 + 8 spare of a server with the default ``conn_limit``. The
    soak's server has room for ``conn_limit`` + 8 of each, so the soak holds
    more than that: one address must not be able to fill the room.
    """
    handshakes = conn_limit + getattr(pygnetic.server, "SPARE_HANDSHAKES", 8)
    peers = conn_limit + getattr(enet_adapter, "SPARE_PEERS", 8)
    a = attacks
    return [
        ("no-attack", a.NoAttack, {}, None),
        ("nesting-tcp", a.Nesting, {}, None),
        ("nesting-enet", a.Nesting, {"adapter": "enet"}, None),
        ("memory-bomb-tcp", a.TcpMemoryBomb, {}, None),
        ("enet-unsequenced-flood", a.EnetFlood, {}, None),
        ("enet-reliable-flood", a.EnetFlood, {"reliable": True}, None),
        ("tcp-echo-flood", a.TcpEchoFlood, {}, None),
        ("huge-valid-tcp", a.HugeValidMessage, {}, None),
        ("huge-valid-enet", a.HugeValidMessage, {"adapter": "enet"}, None),
        ("idle-handshakes", a.IdleHandshakes, {"count": handshakes + 4}, None),
        ("forged-enet-connects", a.ForgedEnetConnects, {"count": peers}, None),
        ("slow-drip", a.SlowDrip, {"count": 12}, 15.0),
        ("invalid-1mb-tcp", a.InvalidMegabyte, {}, None),
        ("invalid-1mb-enet", a.InvalidMegabyte, {"adapter": "enet"}, None),
        ("handshake-flood", a.HandshakeFlood, {}, None),
    ]


#: Attacks that step as fast as they can; the others step about every millisecond.
EAGER = (attacks.EnetFlood, attacks.TcpEchoFlood, attacks.TcpMemoryBomb, attacks.HandshakeFlood)


def _command(timeout):
    """The next line on stdin, waiting up to ``timeout`` seconds (None: for ever); '' if none."""
    readable, _, _ = select.select([sys.stdin], [], [], timeout)
    if not readable:
        return ""
    line = sys.stdin.readline()
    return line.strip() if line else "exit"


def _report(name, attack, error=None):
    report = {"phase": name, "stats": attack.stats if attack is not None else {}}
    if error is not None:
        report["error"] = error
    print(json.dumps(report), flush=True)


def main(port, conn_limit):
    os.nice(NICE)
    factory = soak_factory()
    plan = {name: (kind, options) for name, kind, options, _ in attack_plan(conn_limit)}
    print(json.dumps({"ready": True}), flush=True)
    attack = name = None
    steps = 0
    while True:
        if attack is None:
            command = _command(None)
        elif isinstance(attack, EAGER):
            steps += 1
            command = _command(0) if steps % STEPS_PER_LOOK == 0 else ""
        else:
            command = _command(0.001)
        if command == "exit":
            break
        if command.startswith("start "):
            name = command[6:]
            kind, options = plan[name]
            attack = kind(port, factory, **options)
        elif command == "stop" and attack is not None:
            attack.close()
            _report(name, attack)
            attack = None
        if attack is None:
            continue
        try:
            attack.step()
        except Exception:  # an attacker's failure is reported, not a reason to stop the soak
            attack.close()
            _report(name, attack, traceback.format_exc(limit=3)[-1500:])
            attack = None
            continue
        if attack.done:
            attack.close()
            _report(name, attack)
            attack = None
    if attack is not None:
        attack.close()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
