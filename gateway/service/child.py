"""`python -m gateway.service.child <role>`: every process of the daemon but the
supervisor, its DATA-check workers and the schema upgrade. The runners ("pipeline-0",
"delivery", "imap-intake") and the workers they start ("stamp", "pdf", "sigs") are
all started this way (gateway/service/process_util.py `start_child`), so that `ps`
shows what each is.

Its stdin brings the pid of the process that started it, then a pickle of what to
run: (body, args, fd), `fd` being its end of a pipe to that process, if it has one."""
from __future__ import annotations

import os
import pickle
import sys


def _main() -> None:
    from gateway.service.process_util import became_child, name_process

    role = sys.argv[1]
    name_process(role)  # while it imports, too
    stdin = sys.stdin.buffer
    try:
        parent = int(stdin.readline())
    except ValueError:  # its parent died before it could say anything
        os._exit(1)
    became_child(role, parent)  # dies with its parent, or now if that is gone already
    # The body's modules are imported by the unpickling, and a warning said there
    # (pyHanko's import under cryptography 51) was a line of bare text in the JSON log
    # stream; the body sets up logging again with the daemon's level and format.
    from gateway.service.log import setup_logging

    setup_logging(process=role)
    try:
        body, args, fd = pickle.load(stdin)
    except EOFError:  # its parent died while writing it
        os._exit(1)
    # Nothing more comes on stdin; the pipe need not be kept open.
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    if fd is not None:
        from multiprocessing.connection import Connection

        args = (Connection(fd), *args)
    body(*args)


def run_forked(role: str, server: int, connection: int | None) -> None:
    """The same, in a child the fork server forked (gateway/service/fork_server.py): its
    stdin the payload start_child wrote, its parent the server, `connection` its end of the
    pipe to the process that asked for it (the payload names that process's number for it)."""
    from gateway.service.process_util import became_child, name_process
    from gateway.service.log import setup_logging

    name_process(role)
    became_child(role, server)
    setup_logging(process=role)
    stdin = sys.stdin.buffer
    try:
        stdin.readline()  # the supervisor's pid: a fresh interpreter's parent, not ours
        body, args, fd = pickle.load(stdin)
    except (EOFError, ValueError, pickle.UnpicklingError):  # its asker died while writing it
        os._exit(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    if fd is not None and connection is not None:
        from multiprocessing.connection import Connection

        args = (Connection(connection), *args)
    body(*args)


if __name__ == "__main__":
    _main()
