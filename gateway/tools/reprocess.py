"""`saraban-gateway reprocess QUEUE_ID`: run a message through the pipeline again.

For a message parked after repeated failures (`spool/failed/`, e.g. after a bug was
fixed) and for a quarantined one (e.g. after the unit's policy changed), from the
vault's raw copy under its own queue id. The register's keys make this safe: a unit
that already has the letter keeps its number; only the held units are decided again.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable

import structlog

from gateway.pipeline.classified import unpark
from gateway.pipeline.process import process_entry
from gateway.service.log import failure
from gateway.service.services import Services
from gateway.tools.actions import record_action
from gateway.tools.common import ToolError, friendly, open_services
from gateway.tools.replay import entry_from_vault
from storage import quarantine
from storage.messages import count_attempt, get_message, start_over

log = structlog.get_logger("gateway.tools.reprocess")


def prepare(services: Services, queue_id: str, reason: str | None,
            may_decide: Callable[[str], bool] | None = None) -> str:
    """Put the message back in `spool/new/` ready for the pipeline; return what it was.
    `may_decide` (the desk's person's units): refused when the message is also held for
    a unit it does not cover, whose entry reprocessing would close."""
    spool = services.spool
    with services.db.session() as session:
        message = get_message(session, queue_id)
        if message is None:
            raise ToolError(f"no message with queue id \"{queue_id}\" (the id is in the 250 reply, "
                            "`quarantine list` and `register show`)")
        held = quarantine.held_for_message(session, queue_id)
        if may_decide is not None and not all(q.unit is not None and may_decide(q.unit) for q in held):
            # Reprocessing runs the whole message again and closes every unit's entry:
            # a clerk of one unit would decide for units they neither see nor own.
            raise ToolError("this letter is also held for units you do not look after; the central unit "
                            "or the administrator reprocesses it",
                            th="หนังสือฉบับนี้ค้างอยู่ที่หน่วยงานอื่นที่ท่านไม่ได้ดูแลด้วย "
                               "ให้หน่วยสารบรรณกลางหรือผู้ดูแลระบบเป็นผู้กดตรวจซ้ำ")
        parked = queue_id in spool.parked()
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


def reprocess(services: Services, queue_id: str, reason: str | None) -> dict:
    """Prepare, then run the pipeline on it now; return the message's state and outcome."""
    was = prepare(services, queue_id, reason)
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
    with open_services(args, "pipeline") as services:
        result = reprocess(services, args.queue_id, args.reason)
    print(f"{result['queue_id']} (was {result['was']}): {result['state']}")
    for rcpt, outcome in result["outcome"].items():
        print(f"  {rcpt}: {outcome}")
    for q in result["held"]:
        print(f"  quarantine entry {q['id']} ({q['unit']}):")
        for r in q["reasons"] or []:
            print(f"    {r.get('rule')}: {r.get('message_th')} / {r.get('message_en')}")
    if result["error"]:
        print(f"  ตรวจไม่สำเร็จอีกครั้ง / failed again ({result['error']}); left in the spool, "
              "the daemon retries it")
        return 1
    return 0
