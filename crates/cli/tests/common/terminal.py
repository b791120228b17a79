"""Runs a program on a new pseudo-terminal, as a person at a terminal would.

    terminal.py PROMPT INPUT [PROMPT INPUT ...] -- PROGRAM [ARG ...]

For each pair, waits until PROMPT appears and the terminal no longer echoes (as one waits for a password
prompt before typing), then types INPUT. Writes what the terminal showed to standard output and exits with
the program's exit status. Gives up waiting after five seconds, typing anyway, so a program that leaves
echo on shows the input in the transcript.
"""

import os
import pty
import select
import sys
import termios
import time

TIMEOUT = 5.0


def main():
    split = sys.argv.index("--")
    pairs = sys.argv[1:split]
    argv = sys.argv[split + 1:]
    steps = list(zip(pairs[0::2], pairs[1::2]))
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(argv[0], argv)
    shown = b""

    def read_for(seconds):
        nonlocal shown
        ready, _, _ = select.select([fd], [], [], seconds)
        if not ready:
            return True
        try:
            data = os.read(fd, 4096)
        except OSError:  # EIO: the program closed the terminal
            return False
        shown += data
        return bool(data)

    seen = 0
    for prompt, typed in steps:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            at = shown.find(prompt.encode(), seen)
            if at >= 0 and not termios.tcgetattr(fd)[3] & termios.ECHO:
                seen = at + len(prompt)
                break
            if not read_for(0.01):
                break
        os.write(fd, typed.encode())
    while read_for(TIMEOUT):
        pass
    _, status = os.waitpid(pid, 0)
    sys.stdout.buffer.write(shown)
    sys.exit(os.waitstatus_to_exitcode(status))


main()
