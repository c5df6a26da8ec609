"""Red team of session 20: no plaintext of a ลับ/ลับมาก letter anywhere on the machine.

One daemon (web desk, /metrics, notices to a sink, log at debug level, its own TMPDIR)
takes classified letters by every path it has; each letter carries a marker made for
this run. Then every byte the gateway's processes could have written is searched for
the marker in every form it could be written in (`sweep`): the data directory read as
raw files (spool, vault, sealed store, Maildirs, the SQLite file with its -wal and
free pages), the daemon's TMPDIR, its log, the notices the sink received, /metrics, the
answers of the commands a sysadmin runs, and the desk's pages for a clerk of the unit
who is not its secret registrar.

Found: a paper letter entered from the emergency register (ฉ), by the command or the
desk's form, was never read for its classification: a ลับมาก paper letter went into the
general register with its subject, its scan into the plain vault and its copy into the
unit's ordinary folder, where a clerk who is not the secret registrar read its subject
on the desk; a ลับที่สุด one was entered too. And the desk's form wrote the scans to
TMPDIR and only unlinked them. The SMTP paths swept here leaked nothing."""
from __future__ import annotations

import base64
import binascii
import csv
import os
import re
import uuid
from pathlib import Path

import pytest

from gateway.tools.emergency_import import parse_emergency_no, queue_id_for
from tests.classified.helpers import add_registrar, db_rows, make_gateway_key, maildir
from tests.daemon import Daemon, free_port, write_config
from tests.hostile.markings_cases import thai_pdf
from tests.letters import letter, make_pdf
from tests.notices.sink import Sink
from tests.tools_helpers import this_be_year
from tests.web.client import signed_in, temporary_files_mid_upload
from tests.web.conftest import add_users

LAT = "saraban.latkrabang@bangkok.go.th"


def new_marker() -> str:
    return "QZL" + uuid.uuid4().hex[:14].upper()


def forms(marker: str) -> list[bytes]:
    """The marker as a file could hold it: as is (UTF-8, TIS-620 and quoted-printable
    keep ASCII), UTF-16 both ways (Office, PDF strings), hex (a PDF's <...> string,
    either case) and base64 at each of its three alignments."""
    raw = marker.encode()
    found = [raw, marker.encode("utf-16-le"), marker.encode("utf-16-be"),
             binascii.hexlify(raw), binascii.hexlify(raw).upper()]
    for pad in range(3):
        enc = base64.b64encode(b"\0" * pad + raw)
        found.append(enc[4 if pad else 0:4 * ((pad + len(raw)) // 3)])
    return found


def _holds(data: bytes, needles: list[bytes]) -> bool:
    flat = data.replace(b"\r", b"").replace(b"\n", b"").replace(b"=", b"")  # folded lines, QP soft breaks
    return any(n in data or n in flat for n in needles)


def sweep(markers: list[str], roots: list[Path], texts: dict[str, str | bytes]) -> dict[str, list[str]]:
    """Per marker, every file under `roots` (read as raw bytes: a database's free pages
    and WAL too) and every named text that holds it in any of its forms."""
    needles = {marker: forms(marker) for marker in markers}
    hits: dict[str, list[str]] = {}
    files = [Path(dirpath) / name for root in roots for dirpath, _dirs, names in os.walk(root) for name in names]
    for name, data in [(str(f), f.read_bytes()) for f in files if f.is_file()] + list(texts.items()):
        data = data.encode() if isinstance(data, str) else data
        for marker, forms_of in needles.items():
            if _holds(data, forms_of):
                hits.setdefault(marker, []).append(name)
    return hits


class Machine:
    """The daemon and everything it writes to or answers with."""

    def __init__(self, daemon: Daemon, sink: Sink, tmp: Path, web: str, http: str):
        self.d, self.sink, self.tmp, self.web, self.http = daemon, sink, tmp, web, http

    def written(self) -> dict[str, bytes]:
        """What it wrote outside its data directory and TMPDIR: its log, the notices sent."""
        shown = {"log": self.d.log_path.read_bytes()}
        for n, received in enumerate(self.sink.received):
            shown[f"notice {n}"] = received.data
        return shown

    def shown(self, *more: tuple[str, ...]) -> dict[str, str | bytes]:
        """What people and other programs are shown: commands (`more` of them too, run
        beside the others), desk, metrics."""
        import urllib.request
        from concurrent.futures import ThreadPoolExecutor

        commands = [("status",), ("register", "list", "--json"), ("quarantine", "list", "--all", "--json"), *more]
        with ThreadPoolExecutor(len(commands)) as pool:
            results = list(pool.map(lambda args: self.d.cli(*args), commands))
        shown: dict[str, str | bytes] = {" ".join(a): r.stdout + r.stderr for a, r in zip(commands, results)}
        with urllib.request.urlopen(f"{self.http}/metrics", timeout=30) as answer:
            shown["/metrics"] = answer.read()
        clerk = signed_in(self.web, "clerk")
        pages = ["/register", "/quarantine", "/secret", "/operations"]
        # Every entry and its files, every held letter, as the clerk opens them.
        for letter_id, position in db_rows(self.d, "select letter_id, position from letter_attachments"):
            pages.append(f"/letters/{letter_id}/files/{position}")
        pages += [f"/letters/{i}" for (i,) in db_rows(self.d, "select id from letters")]
        pages += [f"/quarantine/{i}" for (i,) in db_rows(self.d, "select id from quarantine")]
        for page in pages:
            shown[f"desk {page}"] = clerk.get(page).body
        return shown

    def leaks(self, *markers: str, shown: bool = False, texts: dict | None = None,
              commands: tuple = ()) -> dict[str, list[str]]:
        """Where each marker is: files, log and `texts`, and with `shown` what the
        commands, the desk and /metrics show (one look for all markers: each command is
        a process)."""
        texts = self.written() | (self.shown(*commands) if shown else {}) | (texts or {})
        return sweep(list(markers), [self.d.data_dir, self.tmp], texts)


# Each case's classified markers, for the last case's look at what people are shown.
SECRET: list[str] = []


@pytest.fixture(scope="module")
def machine(tmp_path_factory):
    root = tmp_path_factory.mktemp("leaks")
    tmp = root / "tmp"
    tmp.mkdir()
    sink = Sink(free_port()).start()
    web_port, http_port = free_port(), free_port()
    config = write_config(root / "gw", extra=(f'[notices]\nsmarthost = "{sink.address}"\n'
                                              f"[web]\nenabled = true\nport = {web_port}\n"
                                              f"[http]\nenabled = true\nport = {http_port}\n"))
    # The log at its most talkative: what a sysadmin turns on to chase a problem.
    config.write_text(config.read_text().replace('level = "info"', 'level = "debug"'))
    d = Daemon(config, env={"TMPDIR": str(tmp)})
    try:
        make_gateway_key(d)
        add_registrar(d)
        add_users(config, ("clerk", "clerk", "saraban.latkrabang"))
        d.start()
        yield Machine(d, sink, tmp, f"http://127.0.0.1:{web_port}", f"http://127.0.0.1:{http_port}")
    finally:
        d.stop()
        sink.stop()


HEADER = ["เลขทะเบียนฉุกเฉิน", "วันเวลาที่รับ", "ที่", "ลงวันที่", "จาก", "ถึง", "เรื่อง", "หมายเหตุ", "ไฟล์สแกน"]


def _book(folder: Path, rows: list[list[str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "emergency.csv"
    with open(path, "w", encoding="utf-8-sig", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def _row(seq: int, subject: str, scan: str) -> list[str]:
    return [f"ลก 0403 / ฉ {seq:03d}", f"{this_be_year()}-01-01 00:{seq:02d}", "กท 0401/123", "",
            "สำนักการคลัง", "ผู้อำนวยการเขตลาดกระบัง", subject, "", scan]


def test_classified_paper_letters_of_the_emergency_register_are_sealed_not_filed_in_plain(machine, tmp_path):
    d = machine.d
    typed, stamped, plain = new_marker(), new_marker(), new_marker()
    SECRET.extend((typed, stamped))
    folder = tmp_path / "book"
    folder.mkdir()
    (folder / "typed.pdf").write_bytes(make_pdf(f"cover letter {typed}"))
    # ลับมาก printed at the top and the bottom of the paper, nothing in the typed subject
    (folder / "stamped.pdf").write_bytes(thai_pdf(top="ลับมาก", bottom="ลับมาก"))
    (folder / "plain.pdf").write_bytes(make_pdf(f"ordinary letter {plain}"))
    before = len(maildir(d, "latkrabang.secret"))
    book = _book(folder, [_row(1, f"ลับ แผนรักษาความปลอดภัย {typed}", "typed.pdf"),
                          _row(2, f"ขอส่งแผนการปฏิบัติงาน {stamped}", "stamped.pdf"),
                          _row(3, f"ขอเชิญประชุม {plain}", "plain.pdf")])
    # -v: the command's own log events too, at the configured level (debug here)
    out = d.cli("-v", "register", "import-emergency", str(book), "--unit", "saraban.latkrabang")
    d.wait_idle()
    year = this_be_year()
    # The clerk is told where each went: two into the secret register (own numbering).
    assert f"ลก 0403 / ฉ 001  ->  registered 1/{year} in the secret register (ทะเบียนลับ)" in out.stdout, out.stdout
    assert f"ลก 0403 / ฉ 002  ->  registered 2/{year} in the secret register (ทะเบียนลับ)" in out.stdout
    assert re.search(rf"ลก 0403 / ฉ 003  ->  registered \d+/{year}\n", out.stdout)
    rows = db_rows(d, "select book, secrecy, subject from letters where queue_id like 'emg%' order by id")
    assert rows[-3:] == [("secret", "confidential", None), ("secret", "secret", None),
                         ("general", "none", f"ขอเชิญประชุม {plain}")]
    # The secret registrar gets both, sealed; the unit's folder only the ordinary one.
    assert len(maildir(d, "latkrabang.secret")) == before + 2
    assert [p for p in maildir(d, "latkrabang") if _holds(p.read_bytes(), forms(plain))]
    secret_entry = d.cli("register", "show", "saraban.latkrabang", f"2/{year}", "--book", "secret")
    found = machine.leaks(typed, stamped, plain, texts={
        "import-emergency -v": out.stdout + out.stderr, "register show": secret_entry.stdout + secret_entry.stderr})
    assert found.get(typed) is None and found.get(stamped) is None, found
    # The search finds what is there: the ordinary letter's marker in its vault and folder copies.
    assert any("/folders/latkrabang/" in hit for hit in found[plain])

    # Imported again: nothing new, each said where it is.
    again = d.cli("register", "import-emergency", str(book), "--unit", "saraban.latkrabang")
    assert f"already imported as 1/{year} in the secret register (ทะเบียนลับ)" in again.stdout
    assert "0 new, 3 already in the register" in again.stdout


def test_a_top_secret_paper_letter_is_not_entered_at_all(machine, tmp_path):
    d = machine.d
    marker = new_marker()
    SECRET.append(marker)
    folder = tmp_path / "book"
    folder.mkdir()
    (folder / "a.pdf").write_bytes(make_pdf("ordinary"))
    (folder / "b.pdf").write_bytes(make_pdf(f"cover letter {marker}"))
    book = _book(folder, [_row(11, "ขอเชิญประชุม", "a.pdf"), _row(12, f"ลับที่สุด แผนป้องกัน {marker}", "b.pdf")])
    before = db_rows(d, "select count(*) from letters")
    out = d.cli("register", "import-emergency", str(book), "--unit", "saraban.latkrabang", check=False)
    assert out.returncode == 1
    assert "nothing imported: line 3 is marked ลับที่สุด (top secret)" in out.stderr, out.stderr
    assert db_rows(d, "select count(*) from letters") == before
    assert machine.leaks(marker) == {}


def test_the_desks_emergency_form_seals_a_classified_paper_letter(machine):
    d = machine.d
    marker = new_marker()
    SECRET.append(marker)
    clerk = signed_in(machine.web, "clerk")  # a clerk of the unit, not its secret registrar
    fields = [("unit", "saraban.latkrabang"), ("emergency_no", "ลก 0403 / ฉ 021"),
              ("received_at", f"{this_be_year()}-01-02 09:30"), ("sender", "สำนักการคลัง"),
              ("subject", f"ลับมาก แผนรักษาความปลอดภัย {marker}"), ("do", "import")]
    answer = clerk.post_multipart("/emergency", fields, [("scans", f"{marker}.pdf", make_pdf(f"letter {marker}"))])
    assert answer.status == 200, answer.errors()
    d.wait_idle()
    queue_id = queue_id_for("saraban.latkrabang", parse_emergency_no("ลก 0403 / ฉ 021"))
    [(book, secrecy, subject)] = db_rows(d, "select book, secrecy, subject from letters where queue_id = ?", queue_id)
    assert (book, secrecy, subject) == ("secret", "secret", None)
    assert machine.leaks(marker) == {}


class Created:
    """The names created in a folder while it is watched (Linux inotify: a file made
    and removed between two looks at the folder is seen too)."""

    IN_CREATE, IN_MOVED_TO = 0x100, 0x80

    def __init__(self, folder: Path):
        import ctypes
        import ctypes.util

        self.libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK)
        assert self.fd >= 0 and self.libc.inotify_add_watch(
            self.fd, str(folder).encode(), self.IN_CREATE | self.IN_MOVED_TO) >= 0

    def names(self) -> list[str]:
        import struct

        found = []
        try:
            while data := os.read(self.fd, 65536):
                offset = 0
                while offset < len(data):
                    _wd, _mask, _cookie, size = struct.unpack_from("iIII", data, offset)
                    found.append(data[offset + 16:offset + 16 + size].rstrip(b"\0").decode())
                    offset += 16 + size
        except BlockingIOError:
            pass
        return found

    def close(self) -> None:
        os.close(self.fd)


def test_the_desk_keeps_a_paper_letters_scans_out_of_tmpdir(machine):
    """The form's scans and its one-line sheet were written to a temporary directory in
    TMPDIR and unlinked, not shredded: a ลับมาก scan's blocks stayed on /tmp's disk. They
    are kept in the data directory's spool/tmp now (the encrypted volume) and shredded."""
    clerk = signed_in(machine.web, "clerk")
    fields = [("unit", "saraban.latkrabang"), ("emergency_no", "ลก 0403 / ฉ 031"),
              ("received_at", f"{this_be_year()}-01-03 09:30"), ("sender", "สำนักการคลัง"),
              ("subject", "ขอส่งแผนการปฏิบัติงาน"), ("do", "import")]
    scan = thai_pdf(top="ลับมาก", bottom="ลับมาก")
    watched = Created(machine.tmp)
    try:
        answer = clerk.post_multipart("/emergency", fields, [("scans", "stamped.pdf", scan)])
        created = watched.names()
    finally:
        watched.close()
    assert answer.status == 200, answer.errors()
    assert created == []
    queue_id = queue_id_for("saraban.latkrabang", parse_emergency_no("ลก 0403 / ฉ 031"))
    assert db_rows(machine.d, "select book, secrecy from letters where queue_id = ?", queue_id) == [("secret", "secret")]
    assert list((machine.d.data_dir / "spool" / "tmp").iterdir()) == []


def test_a_large_upload_is_spooled_in_the_data_directory_not_tmpdir(machine):
    """Starlette keeps an upload over 1 MB in an unnamed temporary file (O_TMPFILE)
    while the request is read: it was made on TMPDIR's disk (/tmp) and its blocks left
    there; the daemon's temporary files are made in spool/uploads now, on the data
    directory's volume. Seen in the supervisor's open files in the middle of an upload."""
    clerk = signed_in(machine.web, "clerk")
    uploads = machine.d.data_dir / "spool" / "uploads"
    seen = temporary_files_mid_upload(clerk, machine.d.proc.pid, this_be_year())
    assert seen and all(target.startswith(str(uploads)) for target in seen), seen
    assert list(uploads.iterdir()) == []


def _docx(text: str) -> bytes:
    """A Word file stored, not deflated: a copy of it anywhere is found by the sweep."""
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/document.xml", '<w:document xmlns:w="http://schemas.openxmlformats.org/'
                    f'wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>{text}</w:t></w:r></w:p>'
                    "</w:body></w:document>")
    return out.getvalue()


def test_classified_letters_by_smtp_refused_resent_and_held_leave_nothing_in_plain(machine):
    """No leak found on these paths (session 20): the sweep stays as their guard."""
    d = machine.d
    m = {k: new_marker() for k in ("subject", "body", "pdf", "name", "docx", "tis", "refused", "held")}
    SECRET.extend(m.values())
    secret = letter(subject=f"ลับมาก แผนรักษาความปลอดภัย {m['subject']}", body=f"เนื้อความ {m['body']}\n",
                    files=[(f"2569_dds_0403_57_{m['name']}.pdf", make_pdf(f"cover letter {m['pdf']}")),
                           ("annex.docx", _docx(f"ภาคผนวก {m['docx']}"))])
    first = d.send(secret, LAT)
    again = d.send(secret, LAT)  # sent twice: a resend
    legacy = d.send(letter(subject=f"แจ้ง {m['tis']}", body=f"ลับ\nเรื่อง แจ้ง {m['tis']}\n", charset="tis-620"), LAT)
    code, _text = d.data_reply(letter(subject=f"ลับที่สุด แผนป้องกัน {m['refused']}",
                                      body=f"เนื้อความ {m['refused']}\n"))
    assert code == 550
    held = d.send(letter(subject=f"ลับ ขอหารือ {m['held']}", body=f"เนื้อความ {m['held']}\n", files=[]), LAT)
    d.wait_idle()
    books = dict(db_rows(d, "select queue_id, book from letters where queue_id in (?, ?, ?)", first, again, legacy))
    assert books == {first: "secret", legacy: "secret"}, books  # the resend is not registered again
    [(entry, reasons)] = db_rows(d, "select id, reasons from quarantine where queue_id = ?", held)
    assert "no_document" in reasons
    shown = d.cli("quarantine", "show", str(entry)).stdout
    # Only its secret registrar may release it: the command says so, and shows nothing of it.
    refused = d.cli("quarantine", "release", str(entry), "--reason", "ผอ.สั่งรับ", check=False)
    assert refused.returncode == 1 and "kept sealed" in refused.stderr
    shown += refused.stdout + refused.stderr
    found = machine.leaks(*m.values(), texts={"quarantine show": shown})
    assert found == {}, found


def test_no_command_desk_page_metric_export_or_backup_shows_a_classified_marker(machine, tmp_path):
    """Last: what a sysadmin's commands (the secret book's export and a backup archive
    too), a clerk who is not the secret registrar and /metrics are shown after every
    case above."""
    import gzip

    assert SECRET
    exported, archive = tmp_path / "secret-register.csv", tmp_path / "backup.tar.gz"
    commands = (("register", "export", "--unit", "saraban.latkrabang", "--book", "secret", "--format", "csv",
                 "-o", str(exported)), ("backup", "create", str(archive)))
    found = machine.leaks(*SECRET, shown=True, commands=commands)
    unpacked = gzip.decompress(archive.read_bytes())
    assert b"saraban.db" in unpacked  # the archive holds the register
    for marker, where in sweep(SECRET, [], {"register export --book secret": exported.read_bytes(),
                                            "backup create (unpacked)": unpacked}).items():
        found.setdefault(marker, []).extend(where)
    assert found == {}, found
