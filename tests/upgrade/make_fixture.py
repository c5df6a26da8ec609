"""Recreate tests/upgrade/old-data.tar.gz: the data directory an older gateway left with
letters in flight, for tests/test_upgrade_in_flight.py to start today's code on.

    .venv/bin/python tests/upgrade/make_fixture.py [COMMIT]

COMMIT defaults to c6a79b0 (30 November 2026, session 12, schema 0009: before migrations
0010-0012, before batches, before the folder copy's winmail.dat and name changes). The
script checks that commit out in a throwaway git worktree, runs that commit's own daemon
(its tests/daemon.py, its config/units.toml, this venv's Python) and leaves, by its own
hand, letters in every state an upgrade can meet:

- run 1 (no smarthost: notices held; the Maildir folder of saraban.latkrabang and the
  registrar's folder of saraban.dindaeng.admin are files, so their copies are owed):
  ordinary letters registered with the folder copy owed, one filed, a letter with no
  document quarantined, a ลับ letter for a unit with no registrar certificate quarantined
  (registrar_certificate) with its alert filed, a ลับมาก letter sealed with the registrar
  copy owed; then kill -9.
- run 2: the pipeline runner stopped (SIGSTOP) and two letters acknowledged into the spool
  (their DATA-check readings written by the old code), then kill -9.
- run 3: SARABAN_CRASHPOINT=after_vault, run 4: after_register: the first spooled letter
  dies in the vault, then dies registered but not marked done.
- run 5: as run 2, two more letters acknowledged and never worked, and two that old code
  read as ordinary (its DATA check's reading in spool/readings) where today's code finds
  ลับมาก (in a PDF inside winmail.dat, in a signed PDF inside a ZIP; built by today's
  tests/hostile/markings_cases.py).

Made from 364782a (session 16, schema 0010) the test passed too (checked by hand in
session 18, before the IMAP letter was added); the archive kept is c6a79b0's, the older.

A Dovecot of tests/servers/dovecot.py serves the central mailbox (user central) to the
old daemon's IMAP intake in every run; in run 5 one message is taken into the spool and
not yet marked on the server.

The archive holds var/ (database, spool, vault, keys, folders) without the daemon's log or
metrics, the central mailbox's Maildir as Dovecot left it (imap-central/, its UIDVALIDITY
and UIDs in dovecot-uidlist), the test registrars' keys (throwaway test keys; the ลับ letters
the old code knew as such are in the vault only encrypted, the two it read as ordinary
are in its spool as it kept them: test letters) and manifest.json naming each letter's queue id and
state and when it was made. The data directory's own path is in the database only as the
IMAP lease's holder name, which expires a minute after the old daemon's death: a test run
within that minute of making the archive waits for it.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_COMMIT = "c6a79b0"
ARCHIVE = HERE / "old-data.tar.gz"
LAT = "saraban.latkrabang@bangkok.go.th"
DIN = "saraban.dindaeng.admin@bangkok.go.th"
MARKER = "UPGRADE-SECRET-MARKER-7731"
# tests/hostile/markings_cases.py classified_cases: marked where c6a79b0 did not look.
HIDDEN = {"hidden_winmail": "only in the PDF inside winmail.dat",
          "hidden_p7m_zip": "only in a signed PDF (.p7m) inside a ZIP"}


def scenario(out: Path) -> None:
    """Run inside the old tree (PYTHONPATH and cwd there): its tests helpers, its daemon."""
    from tests.daemon import Daemon, write_config
    from tests.letters import SEED_DATE, SEED_REFERENCE, letter, make_pdf
    from tests.secrecy.certs import make_cert, pem
    from cryptography.hazmat.primitives import serialization

    from tests.imap_helpers import intake_config
    from tests.servers.dovecot import DovecotServer

    # The central mailbox over IMAP for every run (its Maildir goes into the archive).
    dovecot = DovecotServer(users={"central": "central-secret-3"}).start()
    config = write_config(out, extra=intake_config(dovecot, "central", "central-secret-3", poll_interval=0.2))
    d = Daemon(config)
    var = d.data_dir
    manifest: dict = {"letters": {}}

    def well_named(subject: str, **kw) -> bytes:
        pdf = make_pdf(subject.encode().hex()[:20])
        return letter(subject=subject, files=[("2569_dds_0407_57.pdf", pdf)], **kw)

    def secret(marking: str, to: str) -> bytes:
        body = (f"{marking}\nที่ {SEED_REFERENCE}\nวันที่ {SEED_DATE}\nเรื่อง แผนรักษาความปลอดภัย {MARKER}\n"
                f"เรียน ผู้อำนวยการเขต\n\nเนื้อความ {MARKER}\n")
        return letter(to=to, subject=f"{marking} แผนรักษาความปลอดภัย {MARKER}", body=body,
                      files=[("2569_dds_0403_57.pdf", make_pdf(f"{marking} cover letter {MARKER}"))])

    # Keys before the start, as an installation has them.
    d.cli("keys", "create", "--cn", "saraban-gateway test")
    key, cert = make_cert("registrar dindaeng")
    (out / "registrar.pem").write_bytes(pem(cert))
    (out / "registrar-key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    d.cli("keys", "import-registrar", "saraban.dindaeng.admin", str(out / "registrar.pem"))
    # The latkrabang registrar's certificate and key, imported only after the upgrade.
    key2, cert2 = make_cert("registrar latkrabang")
    (out / "registrar-lat.pem").write_bytes(pem(cert2))
    (out / "registrar-lat-key.pem").write_bytes(key2.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))

    folders = var / "folders"
    folders.mkdir(parents=True, exist_ok=True)
    broken = [folders / "latkrabang", folders / "dindaeng_admin.secret"]
    for path in broken:  # a file where the Maildir is: each copy there fails (root ignores modes)
        path.write_text("not a folder\n")

    def spool_empty() -> bool:
        return d.status()["spool"]["pending"] == 0

    # Run 1.
    d.start()
    sent = manifest["letters"]
    lat, din = "saraban.latkrabang", "saraban.dindaeng.admin"
    sent["filed_owed_lat"] = {"queue_id": d.send(well_named("หนังสือหนึ่ง"), LAT), "units": [lat]}
    sent["two_units"] = {"queue_id": d.send(well_named("หนังสือสอง", to=f"{LAT}, {DIN}"), [LAT, DIN]),
                         "units": [lat, din]}
    sent["filed_din"] = {"queue_id": d.send(well_named("หนังสือสาม", to=DIN), DIN), "units": [din]}
    sent["no_document"] = {"queue_id": d.send(letter(subject="ไม่มีไฟล์", files=[]), LAT), "units": [],
                           "quarantined": "no_document"}
    sent["secret_no_registrar"] = {"queue_id": d.send(secret("ลับ", LAT), LAT), "units": [lat],
                                   "quarantined": "registrar_certificate", "secret": True}
    sent["secret_copy_owed"] = {"queue_id": d.send(secret("ลับมาก", DIN), DIN), "units": [din], "secret": True}
    d.wait_for(spool_empty, what="run 1's letters worked")
    d.wait_for(lambda: d.status()["outbox"].get("alert", {}).get("done", 0) >= 1, what="the alert filed")
    time.sleep(1.0)  # a folder copy or two attempted and failed
    d.kill9()

    def spooled(names, raws: dict[str, bytes] | None = None, imap: bool = False) -> None:
        """The pipeline runner stopped (SIGSTOP), letters acknowledged into the spool, kill -9."""
        offset = d.log_path.stat().st_size
        d.start()
        def pipeline_pids() -> list[int]:
            return [e["pid"] for e in d.events(offset)
                    if e.get("event") == "runner_spawned" and e.get("runner") == "pipeline-0"]
        [pid] = d.wait_for(pipeline_pids, what="pipeline runner spawned")
        os.kill(pid, signal.SIGSTOP)
        for name, to in names:
            unit = to.split("@")[0]
            sent[name] = {"queue_id": d.send(well_named(name, to=to), to), "units": [unit]}
        for name, raw in (raws or {}).items():
            sent[name] = {"queue_id": d.send(raw, LAT), "units": ["saraban.latkrabang"]}
        if imap:
            # Taken from the central mailbox into the spool, not yet registered nor marked.
            mid = "<upgrade-imap-in-flight@dds.bangkok.go.th>"
            dovecot.deliver("central", well_named("imap_in_flight", message_id=mid))
            d.wait_for(lambda: d.status()["spool"]["pending"] >= len(names) + len(raws or {}) + 1,
                       what="the IMAP letter spooled")
            sent["imap_in_flight"] = {"message_id": mid, "units": ["saraban.latkrabang"]}
        d.kill9()

    # Run 2: two letters acknowledged, never worked.
    spooled([("spooled_1", DIN), ("spooled_2", LAT)])

    # Runs 3 and 4: the first spooled letter dies in the vault, then dies registered.
    for point in ("after_vault", "after_register"):
        d.env = {"SARABAN_CRASHPOINT": point}
        d.start()
        d.proc.wait(60)
    d.env = {}

    # Run 5: two more acknowledged, never worked, and two letters the old code read as
    # ordinary that today's reads as ลับมาก (made by today's tests, in hidden/).
    spooled([("spooled_3", LAT), ("spooled_4", DIN)],
            {name: (out / "hidden" / f"{name}.eml").read_bytes() for name in HIDDEN}, imap=True)
    for name in HIDDEN:
        sent[name]["secret"] = True

    manifest["commit"] = os.environ["OLD_COMMIT"]
    # The test sets today's daemon's clock an hour after this: its registrations fall in
    # the same year's register whenever it runs.
    manifest["made_at"] = dt.datetime.now(dt.timezone.utc).isoformat()
    manifest["registrar_folders"] = {"saraban.dindaeng.admin": "dindaeng_admin.secret",
                                     "saraban.latkrabang": "latkrabang.secret"}
    manifest["folders"] = {"saraban.latkrabang": "latkrabang", "saraban.dindaeng.admin": "dindaeng_admin"}
    manifest["marker"] = MARKER
    for path in broken:
        path.unlink()
    shutil.copytree(dovecot.mail_dir("central"), out / "imap-central", symlinks=True)
    dovecot.stop()
    (out / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--scenario":
        scenario(Path(sys.argv[2]))
        return
    commit = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_COMMIT
    repo = HERE.parent.parent
    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp) / "old"
        out = Path(tmp) / "out"
        sys.path.insert(0, str(repo))
        from tests.hostile.markings_cases import classified_cases

        cases = classified_cases()
        (out / "hidden").mkdir(parents=True)
        for name, case in HIDDEN.items():
            (out / "hidden" / f"{name}.eml").write_bytes(cases[case][1])
        subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", str(old), commit], check=True)
        try:
            subprocess.run([sys.executable, "-m", "compileall", "-q", "gateway", "storage", "rules"], cwd=old)
            env = dict(os.environ, PYTHONPATH=str(old), OLD_COMMIT=commit)
            env.pop("SARABAN_CONFIG", None)
            subprocess.run([sys.executable, str(Path(__file__).resolve()), "--scenario", str(out)],
                           cwd=old, env=env, check=True)
        finally:
            subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(old)], check=False)
        keep = ["manifest.json", "registrar-key.pem", "registrar.pem", "registrar-lat.pem", "registrar-lat-key.pem",
                "imap-central"]
        with tarfile.open(ARCHIVE, "w:gz") as tar:
            for name in keep:
                tar.add(out / name, arcname=name)

            def skip_logs(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
                parts = Path(info.name).parts
                if len(parts) > 1 and parts[1] in ("metrics", "run") or info.name.endswith((".log", ".lock", ".pid")):
                    return None
                return info
            tar.add(out / "var", arcname="var", filter=skip_logs)
    print(f"wrote {ARCHIVE} ({ARCHIVE.stat().st_size} bytes) from {commit}")


if __name__ == "__main__":
    main()
