"""The text form of :class:`~pygnetic.simulate.Conditions`: ``latency=120ms loss=5%``."""

from __future__ import annotations

import re

__all__ = ["PARSERS", "RATE_UNITS"]

_TIME = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ms|s)")
_SHARE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(%?)")
_RATE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)([a-zA-Z]+(?:/s)?)")
#: Bandwidth units and their size in bytes per second.
RATE_UNITS = {
    "bit": 1 / 8, "kbit": 125.0, "mbit": 125_000.0, "gbit": 125_000_000.0,
    "bps": 1 / 8, "kbps": 125.0, "mbps": 125_000.0, "gbps": 125_000_000.0,
    "B/s": 1.0, "KB/s": 1000.0, "kB/s": 1000.0, "MB/s": 1_000_000.0, "GB/s": 1e9,
}  # fmt: skip


def _parse_time(name: str, text: str) -> float:
    match = _TIME.fullmatch(text)
    if match is None:
        raise ValueError(f"{name}={text!r}: give a time with its unit, such as 120ms or 0.12s")
    number = float(match[1])
    return number / 1000 if match[2] == "ms" else number


def _parse_share(name: str, text: str) -> float:
    match = _SHARE.fullmatch(text)
    if match is None:
        raise ValueError(
            f"{name}={text!r}: give a percentage such as 5% or a fraction such as 0.05"
        )
    number = float(match[1])
    return number / 100 if match[2] else number


def _parse_rate(name: str, text: str) -> float:
    match = _RATE.fullmatch(text)
    unit = match[2] if match else ""
    if match is None or (unit not in RATE_UNITS and unit.lower() not in RATE_UNITS):
        raise ValueError(
            f"{name}={text!r}: give a rate such as 256kbit, 2mbit or 64KB/s "
            f"(units: {', '.join(RATE_UNITS)})"
        )
    return float(match[1]) * RATE_UNITS.get(unit, RATE_UNITS.get(unit.lower(), 0.0))


def _parse_seed(name: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{name}={text!r}: give an integer") from None


PARSERS = {
    "latency": _parse_time,
    "jitter": _parse_time,
    "loss": _parse_share,
    "duplicate": _parse_share,
    "reorder": _parse_share,
    "bandwidth": _parse_rate,
    "seed": _parse_seed,
}
