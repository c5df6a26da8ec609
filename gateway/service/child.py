"""`python -m gateway.service.child <role>`: every process of the daemon but the
supervisor, its DATA-check workers and the schema upgrade. The runners ("pipeline-0",
"delivery", "imap-intake") and the workers they start ("stamp", "pdf", "sigs") are
all started this way (gateway/service/process_util.py `start_child`), so that `ps`
shows what each is.

Its stdin brings the pid of the process that started it, then a pickle of what to
run: (body, args, fd), `fd` being its end of a pipe to that process, if it has one.
The supervisor's children are forked by its fork server instead, and read the same
payload (`run_forked`; gateway/service/fork_server.py)."""
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
    _run(role, stdin, None)


def run_forked(role: str, server: int, connection: int | None) -> None:
    """The same, in a child the fork server forked (gateway/service/fork_server.py): its
    stdin the payload start_child wrote, its parent the server, `connection` its end of the
    pipe to the process that asked for it (the payload names that process's number for it)."""
    from gateway.service.process_util import became_child, name_process

    name_process(role)
    became_child(role, server)
    stdin = sys.stdin.buffer
    stdin.readline()  # the asker's pid: a fresh interpreter's parent, not ours
    _run(role, stdin, connection)


def _run(role: str, stdin, connection: int | None) -> None:  # noqa: ANN001 - a binary stream
    """Unpickle (body, args, fd) from stdin and run body(*args), with the end of the pipe
    to the asker first where it has one (`connection` where it reached us apart from the
    number the payload names)."""
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

        args = (Connection(fd if connection is None else connection), *args)
    body(*args)


if __name__ == "__main__":
    _main()
