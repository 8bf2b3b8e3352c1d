# Copyright 2026 icpi_ros maintainers
# SPDX-License-Identifier: Apache-2.0
"""A stop request that SIGINT/SIGTERM handlers raise without taking a lock.

A Python signal handler runs in the main thread between two bytecodes, possibly while that
thread is inside `threading.Event.wait()` and holds the event's lock, or inside a first
handler's `Event.set()` (a terminal's Ctrl-C and ros2 launch's forwarded SIGINT come
milliseconds apart). A handler that calls `Event.set()` then waits for a lock its own thread
holds: the process hangs for good. Measured with a main thread looping on `event.wait(0)`:
110 hangs in 200 Ctrl-Cs. Here the handler only sets a flag and writes a byte to a pipe; a
relay thread reads it and sets the event, which wakes every waiter (the main thread too).
Imports only the standard library.
"""

import contextlib
import os
import signal
import threading
from collections.abc import Iterable
from typing import Any

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignal:
    """`threading.Event`'s is_set/wait/set/clear, raised safely by the process's signals."""

    def __init__(self) -> None:
        """Create the request (not installed: call `install()` from the main thread)."""
        self._raised = False  # set by the handler itself: visible before the relay runs
        self._event = threading.Event()
        self._write_fd: int | None = None
        self._signals: set[int] = set()

    def install(self, signals: Iterable[int] = STOP_SIGNALS) -> dict[int, Any]:
        """Have `signals` raise this request; return the handlers they had before."""
        relay = None
        if self._write_fd is None:
            read_fd, self._write_fd = os.pipe()
            os.set_blocking(self._write_fd, False)  # a full pipe already holds a stop request
            relay = threading.Thread(
                target=self._relay, args=(read_fd,), name='stop-signal', daemon=True
            )
        self._signals.update(signals)
        previous = {sig: signal.signal(sig, self._on_signal) for sig in signals}
        if relay is not None:  # after the handlers: starting it waits, and a signal may come
            relay.start()
        return previous

    def ignore_from_now(self) -> None:
        """Ignore the installed signals: the process has stopped and is about to exit.

        At exit Python resets the handlers it installed to the default, and a late SIGINT
        (ros2 launch forwards one after the terminal's) would kill the process with -2 while
        the interpreter finalizes; an ignored one stays ignored.
        """
        for sig in self._signals:
            signal.signal(sig, signal.SIG_IGN)

    def _on_signal(self, signum: int, frame: object) -> None:
        self._raised = True
        with contextlib.suppress(OSError):  # BlockingIOError: bytes already wait for the relay
            os.write(self._write_fd, b'\0')

    def _relay(self, read_fd: int) -> None:
        while os.read(read_fd, 64):
            self._event.set()

    def set(self) -> None:
        """Ask to stop (from code; the signals do it themselves)."""
        self._event.set()

    def is_set(self) -> bool:
        """Whether a stop was asked for."""
        return self._raised or self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until a stop is asked for or `timeout` passes; return `is_set()`."""
        return self._raised or self._event.wait(timeout) or self._raised

    def clear(self) -> None:
        """Forget a stop request (for a later run in the same process)."""
        self._raised = False
        self._event.clear()
