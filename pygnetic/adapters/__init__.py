"""Adapters between pygnetic's core and the libraries that do the real work.

:mod:`pygnetic.adapters.network` moves bytes (ENet, TCP sockets, an in-memory
network for tests); :mod:`pygnetic.adapters.serialization` turns messages into
bytes (msgpack, JSON). The core never imports a network library itself.
"""
