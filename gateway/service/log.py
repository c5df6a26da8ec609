"""structlog set-up: one JSON event per line on stdout, which journald keeps as is.

Context (queue_id, unit, receive_no, kind) is bound for exactly the scope it belongs to
with structlog's `bound_contextvars` (a letter, one recipient unit of it, one outbox
item), so every event inside carries it and nothing leaks into the next one. Each event
names its logger (`"logger": "gateway.pipeline.dispose"`).
"""
from __future__ import annotations

import logging
import os
import sys
import traceback
import warnings
from pathlib import Path

import structlog


def failure(exc: BaseException) -> str:
    """A failure while a letter was being read or filed, as the log and the letter's
    `messages.reason` keep it: the exception's type and where it was raised, not its
    message. A parser's or a library's words can quote the letter (a header, a line of
    text), PostgreSQL's DETAIL quotes a failing row's values, and while the letter fails
    nobody can say it is not ลับ."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return type(exc).__name__
    return f"{type(exc).__name__} at {Path(frames[-1].filename).name}:{frames[-1].lineno}"


def failure_trace(exc: BaseException, depth: int = 12) -> list[str]:
    """Where `exc` was raised, innermost last ("process.py:104 in process_batch"): the
    staff's traceback without the exception's message (`failure`). A frame met again
    (recursion) is listed once, so the callers of ours stay in view."""
    steps = dict.fromkeys(f"{Path(frame.filename).name}:{frame.lineno} in {frame.name}"
                          for frame in traceback.extract_tb(exc.__traceback__))
    return list(steps)[-depth:]


class _NamedPrintLogger(structlog.PrintLogger):
    """A PrintLogger that knows the name it was asked for, so that
    structlog.stdlib.add_logger_name can put it in every event."""

    def __init__(self, file, name: str):
        super().__init__(file)
        self.name = name

    def msg(self, message: str) -> None:
        # One write(2) per event: the daemon's processes share one stdout, and print()
        # writes the line and its newline separately, so two processes' events could
        # interleave into one broken JSON line under load.
        data = (message + "\n").encode("utf-8", "backslashreplace")
        with self._lock:
            try:
                self._file.flush()
                fd = self._file.fileno()
            except (AttributeError, OSError, ValueError):  # a stream without a descriptor
                print(message, file=self._file, flush=True)
                return
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]

    log = debug = info = warn = warning = error = critical = exception = fatal = failure = err = msg


def _named_print_logger_factory(stream):
    def make(*args) -> _NamedPrintLogger:
        return _NamedPrintLogger(stream, str(args[0]) if args else "saraban")
    return make


def _named_process(process: str):
    """Every event carries its process's name, from whichever thread logs it. The name was
    only a context variable, and a thread starts with a context of its own: the events of
    the delivery runner's second thread (half its letters), of its notices' decisions and
    of the deadline watch went out without it."""

    def add(_logger, _method, event_dict):
        event_dict.setdefault("process", process)
        return event_dict

    return add


_warned: set[tuple[str, str]] = set()  # (category, where) said once in this process


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Python's warnings (a library's deprecation, said at its import) as one event each,
    `python_warning`, in place of the two lines of text Python writes to stderr: they
    broke the JSON log stream (cryptography 51's DSA deprecation, said by pyHanko's
    import in the stamping child). Each (category, place) is said once per process, and
    only a deprecation's own words are kept: any other warning's text may quote the
    letter a parser was reading, as an exception's may (`failure`)."""
    where = f"{Path(filename).name}:{lineno}"
    if (category.__name__, where) in _warned:
        return
    _warned.add((category.__name__, where))
    fields = {"category": category.__name__, "where": where}
    if issubclass(category, (DeprecationWarning, PendingDeprecationWarning, FutureWarning)) \
            or category.__name__.endswith("DeprecationWarning"):
        fields["text"] = str(message)[:300]
    structlog.get_logger("py.warnings").warning("python_warning", **fields)


def setup_logging(level: str = "info", fmt: str = "json", process: str = "main", stream=None) -> None:
    """JSON events on stdout for the daemon; the tools pass stderr, keeping stdout for
    their own output."""
    stream = stream or sys.stdout
    numeric = getattr(logging, level.upper(), logging.INFO)
    renderer = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            _named_process(process),
            structlog.processors.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            # An exception becomes a structured field beside the event's context,
            # never a bare traceback without the letter it belongs to. No local
            # variables: they would carry letter content (classified ones included).
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False, max_frames=20)
            ),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=_named_print_logger_factory(stream),
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.clear_contextvars()  # the process's name is `_named_process`'s
    warnings.showwarning = _show_warning
    # Libraries that log through stdlib logging (aiosmtpd, mail-parser, pyHanko) come
    # out as the same JSON events on stdout, warnings and above only.
    handler = logging.StreamHandler(stream)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[
            structlog.contextvars.merge_contextvars,
            _named_process(process),
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
        ],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    # mail-parser warns once per odd MIME part (the defects are kept with the letter) and
    # says at error level the header it could not decode ("Failed decoding header part:
    # =?utf-8?b?...?="): a ลับมาก letter's file name, decodable by anyone, was in the
    # runner's log (red team of 7 Dec 2026). Nothing it says is needed: a failure raises.
    logging.getLogger("mailparser").setLevel(logging.CRITICAL + 1)
