"""Each process of the daemon has a name `ps -o comm`, top and systemd show, and a command
line `ps -ef` shows that says the same ("python -m gateway.service.child pipeline-0"): a
sysadmin can tell which one takes the CPU or the memory (docs/operations.md,
"Processes"). None is multiprocessing's resource tracker, a process the daemon has no
use for."""
from __future__ import annotations

from pathlib import Path

from tests.daemon import Daemon, write_config
from tests.processes import tree as _tree


def _names(root: int) -> list[str]:
    names = []
    for pid in _tree(root):
        try:
            names.append(Path(f"/proc/{pid}/comm").read_text().strip())
        except OSError:
            continue
    return sorted(names)


def _command_lines(root: int) -> dict[str, str]:
    """What `ps -o comm` says of each process below the supervisor -> its command line."""
    lines = {}
    for pid in _tree(root):
        if pid == root:
            continue
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue
        lines[f"{comm} ({pid})"] = cmdline
    return lines


def test_every_process_of_the_daemon_says_what_it_is(tmp_path):
    d = Daemon(write_config(tmp_path, extra="[signatures]\nstamp = true\n")).start()
    try:
        d.wait_for_event("stamp_child_ready")
        names = _names(d.proc.pid)
        assert {"saraban-gateway", "saraban-forks", "saraban-pipe-0", "saraban-deliver", "saraban-stamp"} <= set(names), names
        assert names.count("saraban-check") == 2, names  # the DATA-check workers
        assert all(n.startswith("saraban-") for n in names), names
    finally:
        d.stop()


def test_no_resource_tracker_runs_and_every_command_line_names_its_process(tmp_path):
    """What `ps -ef` shows of a running daemon, its stamping child and signature worker
    started: each child's command line ends with its role, and none is multiprocessing's
    (its spawned children read `-c from multiprocessing.spawn import spawn_main...`, and
    its resource tracker `-c from multiprocessing.resource_tracker import main...`)."""
    from tests.letters import letter, make_pdf

    d = Daemon(write_config(tmp_path, extra="[signatures]\nstamp = true\n")).start()
    try:
        # A file that may be signed (its bytes name /ByteRange) starts the pipeline's
        # signature worker; the stamp the delivery runner's stamping child.
        d.send(letter(subject="ชื่อกระบวนการ", files=[("2569_dds_0403_9.pdf", make_pdf("cover /ByteRange"))]),
               "saraban.latkrabang@bangkok.go.th")
        d.wait_for(lambda: any(e.get("event") == "receive_stamp" for e in d.events()), 120,
                   what="the letter to be stamped")
        lines = _command_lines(d.proc.pid)
    finally:
        d.stop()
    assert not [line for line in lines.values() if "multiprocessing" in line or "resource_tracker" in line], lines
    roles = {"saraban-pipe-0": "pipeline-0", "saraban-deliver": "delivery", "saraban-stamp": "stamp",
             "saraban-sigs": "sigs", "saraban-forks": "fork-server"}
    for shown, line in lines.items():
        comm = shown.split()[0]
        if comm == "saraban-check":
            assert line.endswith(" -m gateway.secrecy.markings"), (shown, line)
        else:
            assert line.endswith(f" -m gateway.service.child {roles[comm]}"), (shown, line)
    assert {shown.split()[0] for shown in lines} == {*roles, "saraban-check"}, lines


def test_a_name_is_cut_to_what_linux_keeps():
    import subprocess
    import sys

    code = ("from gateway.service.process_util import name_process; name_process('pipeline-12'); "
            "print(open('/proc/self/comm').read().strip()); name_process('a-very-long-worker-name'); "
            "print(open('/proc/self/comm').read().strip())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60,
                         cwd=Path(__file__).resolve().parent.parent).stdout.split()
    assert out == ["saraban-pipe-12", "saraban-a-very-"]
