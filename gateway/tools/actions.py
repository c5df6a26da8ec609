"""Who did what to the register, and why: a row in `operator_actions` (the record the
central unit answers from) and a structlog event (the log the sysadmin reads)."""
from __future__ import annotations

import os
import pwd
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Iterator

import structlog

from gateway.tools.common import ToolError
from rules.names import cut
from rules.thai_text import clean_field
from storage.actions import add_action
from storage.models import OperatorAction

log = structlog.get_logger("gateway.tools")


_acting_as: ContextVar[str | None] = ContextVar("acting_as", default=None)


@contextmanager
def acting_as(name: str) -> Iterator[None]:
    """Actions taken inside are recorded as this person's (the web desk's signed-in
    clerk, `web:somchai`) instead of the operating-system user's."""
    token = _acting_as.set(name)
    try:
        yield
    finally:
        _acting_as.reset(token)


def who() -> str:
    """The OS user running the command; under sudo, the person behind it too; the
    signed-in person when called from the web desk (acting_as)."""
    if (person := _acting_as.get()) is not None:
        return person
    try:
        user = pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        user = f"uid:{os.getuid()}"
    sudo_user = os.environ.get("SUDO_USER")
    if sudo_user and sudo_user != user:
        return f"{sudo_user} (sudo as {user})"
    return user


# A person's reason for a decision (release, reject, cancel, reprocess, an emergency
# import): what the record says when someone asks why. The desk's forms take as many
# characters (maxlength); the command line refuses more (`checked_reason`).
REASON_MAX = 500


def clean_reason(text: str | None) -> str | None:
    """A reason as the record keeps it: one line, without control characters (an ESC
    is a terminal's command when `quarantine show` prints it) or format characters (a
    bidi override shows it in another order), as the register keeps a subject
    (rules/thai_text.py `clean_field`), and at most REASON_MAX characters, cut between
    letters; None when nothing is left."""
    cleaned = clean_field(text)
    if cleaned is None or len(cleaned) <= REASON_MAX:
        return cleaned
    return cut(cleaned, REASON_MAX - 1).rstrip() + "…"


def checked_reason(text: str | None, *, required: bool) -> str | None:
    """The reason a person gave, cleaned (`clean_reason`), or the refusal: none given
    where one is `required`, one given that says nothing (`--reason ""`, spaces, control
    characters only), or one longer than REASON_MAX. Until session 37 `quarantine
    reject --reason ""` closed the entry with no reason on record."""
    if text is None and not required:
        return None
    try:
        (text or "").encode("utf-8")
    except UnicodeEncodeError:
        # Typed at a terminal not set to UTF-8 (TIS-620): kept as "��" until session 38,
        # the reason lost while the action was done and recorded.
        raise ToolError("the reason is not UTF-8 text (is the terminal set to UTF-8?); type it again",
                        th="เหตุผลที่พิมพ์อ่านไม่ได้ (ไม่ใช่ UTF-8) กรุณาตั้งเครื่องเป็น UTF-8 แล้วพิมพ์ใหม่") from None
    cleaned = clean_field(text)
    if cleaned is None:
        raise ToolError("give a reason (--reason \"...\"): it is kept with your user name for whoever asks why",
                        th="กรุณาระบุเหตุผล (--reason \"...\") เหตุผลจะบันทึกไว้พร้อมชื่อผู้ดำเนินการ")
    if len(cleaned) > REASON_MAX:
        raise ToolError(f"the reason is {len(cleaned)} characters long; at most {REASON_MAX} are kept: "
                        "write it shorter",
                        th=f"เหตุผลยาว {len(cleaned)} ตัวอักษร บันทึกได้ไม่เกิน {REASON_MAX} ตัวอักษร "
                           "กรุณาเขียนให้สั้นลง")
    return cleaned


def reason_refusal(text: str | None, *, required: bool) -> str | None:
    """`checked_reason`'s refusal as the command line says it, on one line in English
    and Thai (a usage error: exit status 2), or None when the reason will do."""
    try:
        checked_reason(text, required=required)
    except ToolError as exc:
        return f"saraban-gateway: {exc} ({exc.th})"
    return None


def record_action(session, action: str, *, reason: str | None = None,
                  queue_id: str | None = None, unit: str | None = None,
                  letter_id: int | None = None, quarantine_id: int | None = None,
                  details: dict[str, Any] | None = None,
                  sealed_in: str | os.PathLike | None = None) -> OperatorAction:
    """`sealed_in`: the data directory, when the action is on a classified letter. Its
    reason may quote the letter, which is kept only sealed: the reason is sealed to the
    gateway key (gateway/secrecy/sealed_text.py) before it reaches the database, and the
    log says only that one was given. Until the red team of 7 Dec 2026 a secret
    registrar's "ปฏิเสธ: <the letter's subject>" was in `operator_actions` and in the
    daemon's log in plain."""
    reason = clean_reason(reason)
    stored, logged = reason, reason
    if reason is not None and sealed_in is not None:
        from gateway.secrecy.sealed_text import SHOWN, seal_text

        stored, logged = seal_text(reason, sealed_in), SHOWN
    row = add_action(session, who=who(), action=action, reason=stored, queue_id=queue_id, unit=unit,
                     letter_id=letter_id, quarantine_id=quarantine_id, details=details)
    log.info(action, who=row.who, reason=logged, queue_id=queue_id, unit=unit,
             letter_id=letter_id, quarantine_id=quarantine_id, **(details or {}))
    return row


def record_outbox_act(session, action: str, items) -> None:  # noqa: ANN001 - OutboxItems
    """One action per outbox item a person made due again (`outbox retry`, the desk's
    retry, `notices release`), on the item's letter: `register show` and the letter's
    page list it beside the letter's other acts. A notice sent days late, or a copy
    filed again, is then answered for (who, when) as every other manual act is."""
    for item in items:
        record_action(session, action, queue_id=item.queue_id, unit=item.unit, letter_id=item.letter_id,
                      details={"item": item.id, "kind": item.kind})


def action_as_dict(row: OperatorAction) -> dict[str, Any]:
    from rules.thai_time import to_bangkok

    from gateway.secrecy.sealed_text import is_sealed, shown

    return {
        "id": row.id,
        "at": to_bangkok(row.at).isoformat(timespec="seconds"),
        "who": row.who,
        "action": row.action,
        "reason": shown(row.reason),  # a sealed reason is opened only with its letter
        "sealed_reason": is_sealed(row.reason),
        "queue_id": row.queue_id,
        "unit": row.unit,
        "details": row.details or {},
    }
