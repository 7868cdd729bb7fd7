"""Benchmarks of pygnetic against raw pyenet/TCP + msgpack and PodSixNet.

Run ``python -m benchmarks --help``. Every figure is measured with server and
clients in separate processes on 127.0.0.1, repeated and interleaved, and
compared with the raw baseline of the same transport measured in the same run.
See ``docs/performance.md`` for the method and the latest results.
"""
