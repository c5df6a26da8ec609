"""The supervisor keeps at most two malloc arenas (gateway/service/process_util.py
`limit_malloc_arenas`, called first thing in `gateway.service.daemon.run`): glibc's
default made one for each of its threads that allocated while another held an arena,
~6 MiB of its peak RSS with 50 connections (docs/performance.md, session 30).

Threads that call malloc through ctypes run without the GIL, at once on both cores, as
the supervisor's ssl, DNS and SQLite calls do; glibc's own account (`malloc_info`) then
says how many arenas the process has."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

_THREADS = """
import ctypes, ctypes.util, re, sys, tempfile, threading
from gateway.service.process_util import limit_malloc_arenas
if sys.argv[1] == "limited":
    assert limit_malloc_arenas()
libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
start = threading.Barrier(8)

def churn():
    start.wait()
    for _ in range(20000):
        libc.free(libc.malloc(4096))

threads = [threading.Thread(target=churn) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
with tempfile.NamedTemporaryFile() as out:
    libc.fopen.restype = ctypes.c_void_p
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    stream = libc.fopen(out.name.encode(), b"w")
    libc.malloc_info(0, stream)
    libc.fclose(stream)
    print(len(re.findall(r'<heap nr="', open(out.name).read())))
"""


def _arenas(mode: str) -> int:
    run = subprocess.run([sys.executable, "-c", _THREADS, mode], capture_output=True, text=True,
                         timeout=120, cwd=REPO, check=True)
    return int(run.stdout.split()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
def test_threads_allocating_at_once_share_two_arenas():
    assert _arenas("limited") <= 2
    # The same threads without the limit: glibc makes more, which is what the limit is for.
    assert _arenas("default") > 2
