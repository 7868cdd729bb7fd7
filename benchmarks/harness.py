"""Worker processes and the messages between them and the parent.

Each benchmark run starts one server process and one or more client processes
(``fork`` where available, so starting one costs milliseconds). A worker talks
to the parent over a pipe with ``(kind, data)`` pairs; an exception in a worker
reaches the parent as an ``error`` message with its traceback.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import traceback
from typing import Any

_CONTEXT = multiprocessing.get_context(
    "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
)


class RunFailed(RuntimeError):
    """A worker failed, or did not answer in time."""


class Control:
    """A worker's side of its pipe to the parent."""

    def __init__(self, pipe) -> None:
        self.pipe = pipe

    def send(self, kind: str, **data: Any) -> None:
        self.pipe.send((kind, data))

    def poll(self) -> str | None:
        """Return the kind of a pending message from the parent, without waiting."""
        if self.pipe.poll():
            return self.pipe.recv()[0]
        return None

    def expect(self, kind: str, timeout: float = 60.0) -> dict:
        if not self.pipe.poll(timeout):
            raise RunFailed(f"no {kind!r} from the parent within {timeout:g} s")
        got, data = self.pipe.recv()
        if got != kind:
            raise RunFailed(f"expected {kind!r} from the parent, got {got!r}")
        return data


#: Environment variable naming a directory: each worker then runs under cProfile
#: and leaves ``<worker name>.prof`` there (``python -m benchmarks --profile DIR``).
PROFILE_ENV = "PYGNETIC_BENCH_PROFILE"


def _worker_main(pipe, function, args, name) -> None:
    control = Control(pipe)
    profile_dir = os.environ.get(PROFILE_ENV)
    profiler = None
    if profile_dir:
        import cProfile
        import time

        # CPU time, so that blocking waits for the network do not show up as work.
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
    try:
        function(control, *args)
    except BaseException:  # report everything, then exit
        control.send("error", traceback=traceback.format_exc())
    finally:
        if profiler is not None:
            profiler.disable()
            path = os.path.join(profile_dir, name.replace(" ", "-") + ".prof")
            profiler.dump_stats(path)
        pipe.close()


class Worker:
    """The parent's handle on one worker process."""

    def __init__(self, name: str, function, *args: Any) -> None:
        self.name = name
        self.pipe, child = _CONTEXT.Pipe()
        self.process = _CONTEXT.Process(
            target=_worker_main, args=(child, function, args, name), name=name, daemon=True
        )
        self.process.start()
        child.close()

    def send(self, kind: str, **data: Any) -> None:
        with contextlib.suppress(OSError):  # it already ended; expect() will say why
            self.pipe.send((kind, data))

    def expect(self, kind: str, timeout: float) -> dict:
        try:
            ready = self.pipe.poll(timeout)
            if ready:
                got, data = self.pipe.recv()
        except EOFError:
            raise RunFailed(f"{self.name} exited without sending {kind!r}") from None
        if not ready:
            raise RunFailed(f"{self.name}: no {kind!r} within {timeout:g} s")
        if got == "error":
            raise RunFailed(f"{self.name} failed:\n{data['traceback']}")
        if got != kind:
            raise RunFailed(f"{self.name}: expected {kind!r}, got {got!r}")
        return data

    def stop(self, timeout: float = 5.0) -> None:
        self.process.join(timeout)
        if self.process.is_alive():
            self.process.terminate()  # only our own child, by its handle
            self.process.join(2.0)
        if self.process.is_alive():
            os.kill(self.process.pid, 9)
            self.process.join()
        self.pipe.close()


class Group:
    """Workers of one run; all of them are stopped when the block ends."""

    def __init__(self) -> None:
        self.workers: list[Worker] = []

    def start(self, name: str, function, *args: Any) -> Worker:
        worker = Worker(name, function, *args)
        self.workers.append(worker)
        return worker

    def start_clients(self, impl: str, function, port: int, clients: int, processes: int):
        """Start ``clients`` clients of ``function`` spread evenly over ``processes`` workers.

        Each worker runs ``function(control, impl, port, count)``.
        """
        share = [clients // processes] * processes
        share[0] += clients - sum(share)
        return [
            self.start(f"{impl} clients {i}", function, impl, port, count)
            for i, count in enumerate(share)
        ]

    def __enter__(self) -> Group:
        return self

    def __exit__(self, *exc_info: object) -> None:
        for worker in self.workers:
            worker.send("stop")
        for worker in self.workers:
            worker.stop()
