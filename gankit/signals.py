"""SIGINT/SIGTERM: finish the current step, checkpoint, and exit with 128 + the signal number.

The first signal only sets a flag the loop reads after each step; a second SIGINT
aborts at once (losing, like ``kill -9``, only the steps since the last checkpoint).
"""
from __future__ import annotations

import signal
import sys
import threading

HANDLED = (signal.SIGINT, signal.SIGTERM)


def exit_code(name: str) -> int:
    """The shell convention for a process ended by a signal: 130 for SIGINT, 143 for SIGTERM."""
    return 128 + int(getattr(signal, name))


class GracefulStop:
    """Context manager: ``received`` names the first stop signal ('SIGINT'/'SIGTERM') or is None."""

    def __init__(self):
        self.received: str | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum, frame):
        name = signal.Signals(signum).name
        if self.received and signum == signal.SIGINT:
            raise KeyboardInterrupt
        if not self.received:
            self.received = name
            sys.stderr.write(f"\ngankit: {name} received: finishing this step and writing a checkpoint "
                             "(press Ctrl-C again to abort without one)\n")
            sys.stderr.flush()

    def __enter__(self) -> "GracefulStop":
        if threading.current_thread() is threading.main_thread():
            for sig in HANDLED:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._previous.items():
            signal.signal(sig, old)
        self._previous.clear()
