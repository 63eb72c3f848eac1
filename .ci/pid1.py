"""PID 1 of a test run's own PID namespace (.ci/own-pids): runs the command, reaps every orphan, exits with its code.

An orphan in a PID namespace is handed to its PID 1; one that is never reaped stays a zombie with a
/proc entry, and tests that wait for a process to be gone would wait on it. When this process ends,
the kernel ends every other process in the namespace.
"""

from __future__ import annotations

import os
import signal
import sys


def main(argv: list[str]) -> int:
    child = os.fork()
    if child == 0:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.execvp(argv[0], argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the command itself (same process group)
    signal.signal(signal.SIGTERM, lambda *_: os.kill(child, signal.SIGTERM))
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            return 1
        except InterruptedError:
            continue
        if pid == child:
            code = os.waitstatus_to_exitcode(status)
            return code if code >= 0 else 128 - code  # killed by a signal: 128 + its number, as a shell says


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
