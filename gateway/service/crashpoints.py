"""Named points where the crash tests kill the whole daemon, as `kill -9` would.

Set SARABAN_CRASHPOINT=<name> in the daemon's environment; when a runner reaches that
point it SIGKILLs its process group (supervisor and every runner) without any clean-up.
Unset in production: the check is one dictionary lookup."""
from __future__ import annotations

import os
import signal
import time

POINTS = (
    "after_spool_read",  # message row created, nothing stored yet
    "after_vault",  # raw and files in the vault, nothing registered
    "after_register",  # registration committed, message not marked done
    "before_spool_remove",  # message done in the database, spool file still there
    "after_folder_write",  # folder copy written, outbox item not yet marked done
)
# In the supervisor's SMTP intake (tests/test_crash_safety.py): the letter durable in
# spool/new, its `250` not yet written; the client sees the connection drop and sends it
# again, as an MTA does.
INTAKE_POINTS = (
    "after_spool_commit",
)
# Reached only by a letter that fails `[pipeline] max_attempts` times, so not in POINTS
# (whose test sends a letter that succeeds): tests/web/test_parked_letters.py.
PARKING_POINTS = (
    "after_park_recorded",  # parked, held and alerted in the database; the file still in spool/new
)
# Inside the delivery runner's batch (tests/test_batches_session17.py, with notices to
# an SMTP sink and two delivery threads): POINTS' test has no smarthost.
BATCH_POINTS = (
    "in_notice_decisions",  # a notice of the batch decided, the decision's transaction still open
    "after_batch_done",  # the batch's items marked done; nothing of the next batch synced or sent
)

# Inside `backup restore` (tests/test_restore_killed_session53.py): the command is killed,
# not the daemon, which is stopped while a register is put back.
RESTORE_POINTS = (
    "restore_database_in_place",  # the register file renamed into place, the vault not yet checked
)
# Inside `backup create` (tests/test_backup_killed_session53.py): the register copied, the
# archive not yet written; then the archive begun (the register, vault and keys in it), not
# yet renamed into place.
BACKUP_POINTS = (
    "backup_database_copied",
    "backup_archive_begun",
)


def crashpoint(name: str) -> None:
    if os.environ.get("SARABAN_CRASHPOINT") == name:
        os.killpg(os.getpgrp(), signal.SIGKILL)


# Where the reload tests hold a pipeline runner, as a slow step would (an OCR of a large
# scan outlasting `runner_grace`): tests/test_reload_kills_pipeline_runner.py.
STALL_POINTS = ("after_spool_read",)


def stallpoint(name: str) -> None:
    """Set SARABAN_STALLPOINT=<name> and SARABAN_STALL_FILE=<path>: a runner reaching that
    point says so in `<path>.<its pid>` and waits there while the file exists, deaf to
    SIGTERM as a busy step is. Unset in production: one dictionary lookup."""
    if os.environ.get("SARABAN_STALLPOINT") == name:
        path = os.environ.get("SARABAN_STALL_FILE", "")
        if path and os.path.exists(path):
            with open(f"{path}.{os.getpid()}", "w"):
                pass
        while path and os.path.exists(path):
            time.sleep(0.05)
