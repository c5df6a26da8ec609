"""A module that warns when it is imported, as pyHanko does under cryptography 51
(tests/test_python_warnings_session42.py)."""
import warnings


class ProbeDeprecationWarning(UserWarning):  # cryptography's own is a UserWarning too
    pass


warnings.warn("probe_mode is deprecated and will be removed", ProbeDeprecationWarning)


def run() -> None:
    for _ in range(3):  # one place, said once
        warnings.warn("a parser's words quoting the letter: ลับมาก", UserWarning)
