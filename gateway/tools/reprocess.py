"""`saraban-gateway reprocess QUEUE_ID`: run a message through the pipeline again.

For a message parked after repeated failures (`spool/failed/`, e.g. after a bug was
fixed) and for a quarantined one (e.g. after the unit's policy changed), from the
vault's raw copy under its own queue id. The register's keys make this safe: a unit
that already has the letter keeps its number; only the held units are decided again.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import structlog

from gateway.pipeline.classified import unpark
from gateway.pipeline.process import process_entry
from gateway.service.log import failure
from gateway.service.numbering import HELD_FOR_TOOLS, HELD_FOR_TOOLS_EN, HELD_FOR_TOOLS_TH, held_after_restore
from gateway.service.services import Services
from gateway.tools.actions import record_action
from gateway.tools.common import ToolError, friendly, listed_unit, open_services, quoted
from gateway.tools.quarantine import is_sealed, kept_sealed, still_held
from gateway.tools.replay import entry_from_vault
from storage import quarantine
from storage.messages import count_attempt, get_message, start_over

log = structlog.get_logger("gateway.tools.reprocess")


def to_reopen(held: list, parked: bool, unit: str | None = None, every_unit: bool = False,
              may_decide: Callable[[str], bool] | None = None) -> list:
    """The held entries a reprocess closes, for the desk and the command alike. Each
    entry is its unit's decision: one unit's reprocess must not decide for another
    (session 16: the command closed every unit's entry of the letter). A parked letter
    failed as a whole and runs again as a whole. `unit`: only this unit's entry;
    `every_unit`: the operator's explicit all; `may_decide` (the desk's person's units):
    refused when an entry to close is of a unit it does not cover."""
    units = sorted({q.unit or "-" for q in held})
    named = ", ".join(units)
    if unit is not None:
        unit = unit.split("@", 1)[0].strip().lower()
        if parked and len(units) > 1:
            raise ToolError(f"this letter is parked and runs again for all its units at once ({named}); "
                            "give --all-units instead of --unit",
                            th=f"หนังสือฉบับนี้พักไว้ ต้องตรวจซ้ำพร้อมกันทุกหน่วยงาน ({named}) "
                               "ให้ใช้ --all-units แทน --unit")
        chosen = [q for q in held if q.unit == unit]
        if not chosen and held:
            raise ToolError(f"this letter is not held for {unit}; it is held for: {named}",
                            th=f"หนังสือฉบับนี้ไม่ได้ถูกกักไว้สำหรับ {unit} แต่ถูกกักไว้สำหรับ: {named}")
    elif len(units) > 1 and not every_unit and may_decide is None:
        raise ToolError(f"this letter is held for several units ({named}); each decides for itself: "
                        "name one with --unit, or give --all-units to decide them all again",
                        th=f"หนังสือฉบับนี้ถูกกักไว้สำหรับหลายหน่วยงาน ({named}) ระบุหน่วยงานด้วย --unit "
                           "หรือใช้ --all-units เพื่อตรวจซ้ำทุกหน่วยงาน")
    else:
        chosen = list(held)
    if may_decide is not None and not all(q.unit is not None and may_decide(q.unit) for q in chosen):
        # Reprocessing runs the whole message again and closes every unit's entry:
        # a clerk of one unit would decide for units they neither see nor own.
        raise ToolError("this letter is also held for units you do not look after; the central unit "
                        "or the administrator reprocesses it",
                        th="หนังสือฉบับนี้ค้างอยู่ที่หน่วยงานอื่นที่ท่านไม่ได้ดูแลด้วย "
                           "ให้หน่วยสารบรรณกลางหรือผู้ดูแลระบบเป็นผู้กดตรวจซ้ำ")
    return chosen


def prepare(services: Services, queue_id: str, reason: str | None,
            may_decide: Callable[[str], bool] | None = None,
            unit: str | None = None, every_unit: bool = False, entry_id: int | None = None) -> str:
    """Put the message back in `spool/new/` ready for the pipeline; return what it was.
    Which held entries close is `to_reopen`'s; the others stay held as they are (the
    pipeline's already_held link keeps them). `entry_id`: the held entry a person at the
    desk decided on, refused as a release is when it is no longer held (still_held)."""
    spool = services.spool
    with services.db.session() as session:
        if entry_id is not None:
            still_held(session, entry_id)
        message = get_message(session, queue_id)
        if message is None:
            raise ToolError(f"no message with queue id \"{quoted(queue_id)}\" (the id is in the 250 reply, "
                            "`quarantine list` and `register show`)",
                            th=f"ไม่พบหนังสือเลขคิว \"{quoted(queue_id)}\" กรุณาดูเลขคิว (queue id) "
                               "จาก quarantine list หรือ register show")
        parked = queue_id in spool.parked()
        held = to_reopen(quarantine.held_for_message(session, queue_id), parked, unit, every_unit, may_decide)
        waiting = (spool.new / f"{queue_id}.msg").exists()
        if parked:
            was = "parked"
        elif held:
            was = "quarantined"
        elif message.state in ("processing", "failed") and not waiting:
            was = "lost"  # a crash between the database and the spool: recover from the vault
        elif waiting:
            raise ToolError(f"{queue_id} is waiting in the spool; the running daemon will process it")
        else:
            raise ToolError(f"{queue_id} is finished ({message.state}: "
                            + ", ".join(f"{k} {v}" for k, v in (message.outcome or {}).items())
                            + "); nothing to reprocess")
        if not parked:
            if held and not services.vault.has(message.sha256) \
                    and is_sealed(services, {"raw_sha256": None, "queue_id": queue_id}):
                raise kept_sealed(queue_id, "processed again")
            entry = entry_from_vault(services, message)  # refuses early if the raw copy is gone
        # Held entries are closed so the pipeline decides again; their reasons stay in
        # the action record. The message starts over with a full set of attempts.
        for q in held:
            quarantine.forget(session, q)
        record_action(session, "reprocessed", reason=reason, queue_id=queue_id,
                      details={"was": was, "attempts": message.attempts, "error": message.reason,
                               "held": [{"id": q.id, "unit": q.unit, "reasons": [r.get("rule") for r in q.reasons or []]}
                                        for q in held]})
        start_over(message)
    if parked:
        unpark(services, queue_id)  # opens a sealed (classified-safe) parked entry
    else:
        spool.restore(entry.queue_id, entry.mail_from, entry.rcpt_to, entry.received_at, entry.raw)
    return was


def reprocess(services: Services, queue_id: str, reason: str | None,
              unit: str | None = None, every_unit: bool = False) -> dict:
    """Prepare, then run the pipeline on it now; return the message's state and outcome."""
    if held_after_restore(services.settings):
        # Numbered here and now, not by the daemon's runners that wait for the folders:
        # the backup's counters would give a number filed since the backup (a second
        # letter under 2/2569), as a release would (gateway/tools/quarantine.py).
        raise ToolError(HELD_FOR_TOOLS, th=HELD_FOR_TOOLS_TH, en=HELD_FOR_TOOLS_EN)
    was = prepare(services, queue_id, reason, unit=unit, every_unit=every_unit)
    error = None
    try:
        process_entry(services, queue_id)
    except FileNotFoundError:
        pass  # the running daemon took it first: same work, same result
    except Exception as exc:  # left in the spool: the daemon retries it as usual
        # Its type and place, as messages.reason keeps a failure: the words may quote the letter.
        error = failure(exc)
        log.error("reprocess_failed", queue_id=queue_id, error=error)
        with services.db.session() as session:
            count_attempt(session, queue_id, error)
    with services.db.session() as session:
        message = get_message(session, queue_id)
        held = quarantine.held_for_message(session, queue_id)
        return {"queue_id": queue_id, "was": was, "state": message.state,
                "outcome": dict(message.outcome or {}), "error": error,
                "held": [{"id": q.id, "unit": q.unit, "reasons": q.reasons} for q in held]}


@friendly
def cmd_reprocess(args: argparse.Namespace) -> int:
    from gateway.tools.actions import reason_refusal

    # As release's and reject's (session 38): a reason of spaces, of bytes not UTF-8 or
    # past 500 characters was kept as given (or as "��").
    if refusal := reason_refusal(args.reason, required=False):
        print(refusal, file=sys.stderr)
        return 2
    with open_services(args, "pipeline") as services:
        unit = listed_unit(services.directory, args.unit, lambda _: True)  # its Thai name too
        result = reprocess(services, args.queue_id, args.reason, unit, args.all_units)
    print(f"{result['queue_id']} (was {result['was']}): {result['state']}")
    for rcpt, outcome in result["outcome"].items():
        if unit is None or rcpt.split("@", 1)[0].lower() == unit:
            print(f"  {rcpt}: {outcome}")
    others = [q for q in result["held"] if unit is not None and q["unit"] != unit]
    if others:  # what --unit left alone, so that nobody reads it as decided again
        print("  ไม่ได้ตรวจซ้ำ / left as they were: "
              + ", ".join(f"{q['unit']} (quarantine entry {q['id']})" for q in others))
    for q in result["held"]:
        if q in others:
            continue
        print(f"  quarantine entry {q['id']} ({q['unit']}):")
        for r in q["reasons"] or []:
            print(f"    {r.get('rule')}: {r.get('message_th')} / {r.get('message_en')}")
    if result["error"]:
        print(f"  ตรวจไม่สำเร็จอีกครั้ง / failed again ({result['error']}); left in the spool, "
              "the daemon retries it")
        return 1
    return 0
