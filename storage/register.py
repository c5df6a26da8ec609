"""The receive register (ทะเบียนหนังสือรับ) and its receive numbers (เลขรับ).

A number runs per (unit, book, Buddhist-era year), starts at 1 or at the configured
cut-over number, and is never reused: a cancelled entry keeps its number. The counter
row is incremented in the same transaction that inserts the entry, so a rollback
takes the number back (no gap), and the unique constraint on (unit, book, year,
number) makes a duplicate impossible even if two processes raced past the lock.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, case, distinct, func, insert, select, text, update
from sqlalchemy.orm import Session, selectinload

from rules.names import fitted_name
from rules.thai_time import be_year, now_utc, to_bangkok
from storage.db import as_loaded, dialect_insert
from storage.models import Letter, LetterAttachment, Message, RegisterCounter
from storage.text import fit, fitted


def allocate_number(session: Session, unit: str, book: str, year: int, start: int = 1) -> int:
    """Take the next receive number of a register inside the caller's transaction.

    `start` (the cut-over number, `[register.start_numbers]`) is a floor, not only the
    first number: set after the year's register had begun (the gateway ran before the
    operator configured it), it used to be ignored, and the next letter took a number
    the previous system had already given. The next number is now never below it."""
    # One statement reads and increments; on PostgreSQL it holds the row lock until
    # commit, on SQLite the transaction already holds the database write lock.
    keys = {"c_unit": unit, "c_book": book, "c_year": year, "c_start": start}
    number = session.execute(_INCREMENT, keys).scalar_one_or_none()
    if number is not None:
        if number == start > 1:  # the floor may have just lifted the counter: once a register-year
            _record_cut_over_skip(session, unit, book, year, start)
        return number
    # The first letter of this register (unit, book, year): make its counter. Two
    # processes may both get here; the constraint lets one row exist and both increment it.
    insert = dialect_insert(session.get_bind().dialect.name)
    session.execute(
        insert(RegisterCounter)
        .values(unit=unit, book=book, year=year, last_number=start - 1)
        .on_conflict_do_nothing()
    )
    return session.execute(_INCREMENT, keys).scalar_one()


CUT_OVER_REASON = ("เลขรับเหล่านี้เป็นของระบบเดิม: ตั้งเลขเริ่มต้น [register.start_numbers] หลังทะเบียนปีนี้เริ่มแล้ว / "
                   "numbers of the previous system: the cut-over number [register.start_numbers] was set after "
                   "this year's register had begun")


def _record_cut_over_skip(session: Session, unit: str, book: str, year: int, start: int) -> None:
    """A cut-over number set after the register had begun (1, 2, 3, then 1500) leaves the
    numbers between to the previous system: written in the register's actions, as a gap
    after a restore is, so that the book says why 4 to 1499 are not in it. Nothing when
    the register began at `start` (its first letter)."""
    from storage.actions import add_action  # storage.actions imports nothing of this module

    highest = session.scalar(select(func.max(_LETTERS.c.number)).where(
        _LETTERS.c.unit == unit, _LETTERS.c.book == book, _LETTERS.c.year == year, _LETTERS.c.number < start))
    if highest is not None and highest < start - 1:
        add_action(session, who="gateway", action="numbers_skipped_for_cut_over", unit=unit, reason=CUT_OVER_REASON,
                   details={"unit": unit, "book": book, "year": year, "first": highest + 1, "last": start - 1})


# On the table, not the mapped class, and built once: an ORM-enabled UPDATE goes through
# the ORM's bulk-update path (~0.8 ms of CPU a letter) to keep loaded RegisterCounter
# objects in step, and no code loads one.
_COUNTERS = RegisterCounter.__table__
_INCREMENT = (
    update(_COUNTERS)
    .where(
        _COUNTERS.c.unit == bindparam("c_unit"),
        _COUNTERS.c.book == bindparam("c_book"),
        _COUNTERS.c.year == bindparam("c_year"),
    )
    .values(last_number=case((_COUNTERS.c.last_number < bindparam("c_start"), bindparam("c_start")),
                             else_=_COUNTERS.c.last_number + 1))
    .returning(_COUNTERS.c.last_number)
)


@dataclass
class NewLetter:
    queue_id: str
    unit: str
    book: str
    received_at: dt.datetime
    sender: str
    raw_sha256: str
    sender_name: str | None = None
    subject: str | None = None  # เรื่อง
    mail_subject: str | None = None  # the Subject header, raw
    message_id: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)
    findings: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[dict[str, Any]] = field(default_factory=list)
    review: bool = False
    sender_auth: dict[str, Any] | None = None  # SPF/DKIM/DMARC verdict (gateway/sender/)


def find_registration(session: Session, queue_id: str, unit: str) -> Letter | None:
    return session.scalar(select(Letter).where(Letter.queue_id == queue_id, Letter.unit == unit))


@dataclass(frozen=True)
class SameMessageId:
    """What this unit's register holds under the sender's Message-ID: the letter this
    one is a resend of, if any, else an earlier letter that only shares the Message-ID."""

    resend_of: str | None = None  # the receive number of the same letter, registered before
    other: str | None = None  # the receive number of another letter with this Message-ID
    other_book: str | None = None  # the book it is in
    other_classified: bool = False  # it is a classified letter (its number said only to its registrar)


_UNIT_LOCK = 0x5255  # first key of the two-key advisory lock: "one unit's registrations"


def lock_units(session: Session, units) -> None:
    """Hold, until the transaction ends, the right to decide on letters to these units.

    Two gateways on one PostgreSQL decide each letter in their own transaction: a sender
    that timed out at one MX and sent the same letter to the other had it checked for a
    resend by both at once, neither saw the other's uncommitted entry, and the letter was
    registered twice, under two receive numbers (session 20). Taken before the resend
    look-up, the lock makes the second wait for the first's commit and then find it (READ
    COMMITTED: each statement sees what was committed before it). Taken in sorted order
    for a whole batch, two gateways' batches never wait on each other in a circle. On
    SQLite BEGIN IMMEDIATE already serialises every writer."""
    if session.get_bind().dialect.name != "postgresql":
        return
    for unit in sorted(set(units)):
        session.execute(text("SELECT pg_advisory_xact_lock(:ns, hashtext(:unit))"),
                        {"ns": _UNIT_LOCK, "unit": unit})


def find_same_message_id(session: Session, unit: str, sender: str, message_id: str | None,
                         raw_sha256: str, files: frozenset[str] | None = None,
                         subject: str | None = None, mail_from: str | None = None) -> SameMessageId:
    """Is this letter one the unit already registered from the same sender with the same
    Message-ID? Only if it is the same letter: the same raw message (its sha256, as
    received), or, as a client that sends a letter again encodes it again, the same
    (non-empty) set of files and the same Subject. The From header and the Message-ID
    are the sender's own words and anyone can write them: a letter that only shares
    them with a registered one is a letter of its own (`other` names the earlier one),
    never a resend; else a forged decoy sent first would make the real letter vanish.
    `files`: the sha256 of each file, None for a classified letter (its register row
    keeps only the hashes of encrypted blobs, so only the raw message can match).

    Without a Message-ID only the raw message can match, and only one that came with
    the same envelope sender (`mail_from`): a sending server whose 250 was lost sends
    the very same bytes again, and scanners and scripts often write no Message-ID
    (until session 43 such a letter had a second number, a ลับ one a second sealed
    copy and alert too). Re-encoded, with the same files, it is the clerk's to judge
    (`find_same_files`), as a letter in a new e-mail is."""
    if not message_id:
        return _same_raw_message(session, unit, sender, raw_sha256, mail_from)
    # As register_letter stored them (cut to their columns): a resend of a letter with an
    # over-long Message-ID is still found.
    rows = session.execute(_SAME_MESSAGE_ID, {"r_unit": unit, "r_sender": fit(_LETTERS.c.sender, sender),
                                              "r_message_id": fit(_LETTERS.c.message_id, message_id)}).all()
    if not rows:
        return SameMessageId()
    for row in rows:
        if row.sha256 == raw_sha256:
            return SameMessageId(resend_of=f"{row.number}/{row.year}")
    if files:
        for row in rows:
            if (row.secrecy in (None, "none") and (row.mail_subject or None) == (subject or None)
                    and _file_hashes(session, row.id) == files):
                return SameMessageId(resend_of=f"{row.number}/{row.year}")
    first = rows[0]
    return SameMessageId(other=f"{first.number}/{first.year}", other_book=first.book,
                         other_classified=first.secrecy not in (None, "none"))


def _same_raw_message(session: Session, unit: str, sender: str, raw_sha256: str,
                      mail_from: str | None) -> SameMessageId:
    if not raw_sha256 or mail_from is None:
        return SameMessageId()
    row = session.execute(_SAME_RAW, {"w_sha256": raw_sha256, "w_unit": unit,
                                      "w_sender": fit(_LETTERS.c.sender, sender),
                                      "w_mail_from": fit(_MESSAGES.c.mail_from, mail_from)}).first()
    return SameMessageId(resend_of=f"{row.number}/{row.year}") if row else SameMessageId()


def find_same_files(session: Session, unit: str, sender: str, files: frozenset[str] | None,
                    since: dt.datetime) -> str | None:
    """The receive number of the latest letter (not cancelled, not classified) this
    unit registered from the same sender since `since` whose files are exactly these
    (the same non-empty set of sha256), or None: a letter sent again in a new e-mail
    (a new Message-ID, so not a resend) would otherwise be a second register entry that
    nobody notices. The letters holding the least held of these files are found first,
    through the index on the files' sha256 (migration 0011, `_holders_of_the_rarest`): a
    letter with a file never seen costs a look-up or two, however many letters its
    sender sent."""
    if not files:
        return None
    holders = _holders_of_the_rarest(session, files)
    if holders is None:  # every one of the files is in FEW_HOLDERS letters or more
        # Among the rows since the FEW_HOLDERS-th latest of one of them: every letter
        # holding all the files holds it, and the latest ones are what is looked for
        # (a sender whose every letter has the same emblem and form: 22 ms a letter
        # with 20,000 such letters when all of their rows were read).
        since_row = session.scalar(_LATEST_ROWS_FROM, {"l_sha256": min(files), "l_few": FEW_HOLDERS}) or 0
        holders = session.scalars(_HOLDING, {"h_files": sorted(files), "h_count": len(files),
                                             "h_from": since_row}).all()
    if not holders:
        return None
    rows = session.execute(_SAME_FILES, {"s_ids": holders, "s_unit": unit, "s_since": since,
                                         "s_sender": fit(_LETTERS.c.sender, sender)}).all()
    for row in rows:  # the latest first
        if _file_hashes(session, row.id) == files:
            return f"{row.number}/{row.year}"
    return None


def find_same_sealed_files(session: Session, unit: str, book: str, sender: str, files_mac: str | None,
                            received_at: dt.datetime, within: dt.timedelta) -> str | None:
    """`find_same_files` for a sealed (ลับ/ลับมาก) letter: the receive number of the
    latest letter (not cancelled) of this unit's secret `book` from the same sender,
    received within `within` before `received_at`, whose keyed hash of its files
    (`facts.files_mac`, gateway/pipeline/classified.py) is this one, or None. Its rows
    keep no plain hash of a file, so the plain look-up never found it: a ลับ letter sent
    again in a new e-mail had a second number in the secret book that nobody was told
    of. Read through uq_letter_number (unit, book, year): the secret book's rows of the
    year or two, not every letter of the sender (through ix_letter_resend a sender with
    20,000 ordinary letters to the unit cost 88 ms a classified letter); at most
    SAME_SEALED of the latest."""
    if not files_mac:
        return None
    since = received_at - within
    rows = session.execute(_SAME_SEALED, {"q_unit": unit, "q_book": book,
                                          "q_years": sorted({be_year(since), be_year(received_at)}),
                                          "q_sender": fit(_LETTERS.c.sender, sender), "q_since": since}).all()
    for row in rows:  # the latest first
        if (row.facts or {}).get("files_mac") == files_mac:
            return f"{row.number}/{row.year}"
    return None


SAME_SEALED = 200


def find_mailed_twin(session: Session, unit: str, book: str, reference: str | None,
                     letter_date: dt.date | None, files: frozenset[str], around: dt.datetime,
                     within: dt.timedelta) -> str | None:
    """For a row of the paper emergency register: the receive number of a letter (not
    cancelled, not itself from the emergency register) this unit registered in `book`
    within `within` of `around` that is the row's letter: the same ที่ and ลงวันที่
    (`reference` in its normal form, rules/reference.py), or every one of the row's
    scans (`files`, sha256) among its files. Else None. The registrar who numbered a
    letter on paper while the gateway was down (read in webmail, or phoned about) gets
    the same letter registered from the mailbox or its sender's retry once the gateway
    is back: two numbers for one letter, which nobody saw (the import compared a row
    only with rows imported before). A tool's look-up: the unit's book of a year or
    two, through uq_letter_number."""
    since, until = around - within, around + within
    window = {"t_unit": unit, "t_book": book, "t_since": since, "t_until": until,
              "t_years": sorted({be_year(since), be_year(until)})}
    if reference and letter_date:
        for row in session.execute(_TWIN_BY_REFERENCE, {**window, "t_reference": fit(_LETTERS.c.reference, reference),
                                                        "t_date": letter_date}):
            if (row.facts or {}).get("source") != "emergency_register":
                return f"{row.number}/{row.year}"
    if files:
        holders = session.scalars(_HOLDING, {"h_files": sorted(files), "h_count": len(files), "h_from": 0}).all()
        if holders:
            for row in session.execute(_TWIN_BY_FILES, {**window, "t_ids": holders}):
                if (row.facts or {}).get("source") != "emergency_register":
                    return f"{row.number}/{row.year}"
    return None


# A file held by fewer letters than this is "rare": its holders are read, not the
# holders of every file of the letter.
FEW_HOLDERS = 51


def _holders_of_the_rarest(session: Session, files: frozenset[str]) -> list[int] | None:
    """The letters holding the least held of `files` (every letter holding all of them
    holds it), latest first; [] when one of them is in no letter; None when each is in
    FEW_HOLDERS letters or more. Each file is looked up no further than FEW_HOLDERS
    rows of the sha256 index: a file in every letter of a sender (the emblem image of
    its system's HTML letters, a standard form) made `_HOLDING` read all of its rows
    for each new letter: 1.6 ms a letter with 1,000 earlier ones, 69 ms with 50,000."""
    rarest: list[int] | None = None
    for sha256 in sorted(files):
        holders = session.scalars(_HOLDERS_OF, {"o_sha256": sha256, "o_few": FEW_HOLDERS}).all()
        if not holders:
            return []
        if len(holders) < FEW_HOLDERS and (rarest is None or len(holders) < len(rarest)):
            rarest = holders
    return None if rarest is None else sorted(set(rarest), reverse=True)


def _file_hashes(session: Session, letter_id: int) -> frozenset[str]:
    return frozenset(session.scalars(_FILES, {"f_letter_id": letter_id}))


# Asked for every letter: built once, a few columns, no ORM entity (the ORM query, built
# each time and loading a whole Letter, cost ~0.5 ms of CPU a letter). The index
# ix_letter_resend (unit, sender, message_id) finds the rows; a letter whose Message-ID
# was never seen costs this one lookup.
_LETTERS = Letter.__table__
_MESSAGES = Message.__table__
_ATTACHMENTS = LetterAttachment.__table__
# Letters holding every one of the files (a logo that is in each of a sender's mails
# alone makes no candidate).
_HOLDING = (select(_ATTACHMENTS.c.letter_id)
            .where(_ATTACHMENTS.c.sha256.in_(bindparam("h_files", expanding=True)),
                   _ATTACHMENTS.c.id >= bindparam("h_from"))
            .group_by(_ATTACHMENTS.c.letter_id)
            .having(func.count(distinct(_ATTACHMENTS.c.sha256)) == bindparam("h_count"))
            .order_by(_ATTACHMENTS.c.letter_id.desc()).limit(50))
_LATEST_ROWS = (select(_ATTACHMENTS.c.id).where(_ATTACHMENTS.c.sha256 == bindparam("l_sha256"))
                .order_by(_ATTACHMENTS.c.id.desc()).limit(bindparam("l_few")).subquery())
_LATEST_ROWS_FROM = select(func.min(_LATEST_ROWS.c.id))  # the oldest of a file's latest rows
_HOLDERS_OF = (select(_ATTACHMENTS.c.letter_id).where(_ATTACHMENTS.c.sha256 == bindparam("o_sha256"))
               .limit(bindparam("o_few")))
# The candidates are found by their ids (at most 50): `unit || ''` and `sender || ''`
# keep SQLite from reading them through ix_letter_resend instead, which read every
# letter of the unit from that sender (2.5 ms a look-up with 20,000 of them).
_SAME_FILES = (
    select(_LETTERS.c.id, _LETTERS.c.number, _LETTERS.c.year)
    .where(_LETTERS.c.id.in_(bindparam("s_ids", expanding=True)),
           (_LETTERS.c.unit + "") == bindparam("s_unit"), (_LETTERS.c.sender + "") == bindparam("s_sender"),
           _LETTERS.c.received_at >= bindparam("s_since"), _LETTERS.c.status != "cancelled",
           _LETTERS.c.secrecy == "none")
    .order_by(_LETTERS.c.id.desc())
    .limit(20)
)
# Through uq_letter_number (unit, book, year, ...): `sender || ''` keeps SQLite from
# choosing ix_letter_resend, every letter of the unit from that sender.
_SAME_SEALED = (
    select(_LETTERS.c.number, _LETTERS.c.year, _LETTERS.c.facts)
    .where(_LETTERS.c.unit == bindparam("q_unit"), _LETTERS.c.book == bindparam("q_book"),
           _LETTERS.c.year.in_(bindparam("q_years", expanding=True)),
           (_LETTERS.c.sender + "") == bindparam("q_sender"),
           _LETTERS.c.received_at >= bindparam("q_since"), _LETTERS.c.status != "cancelled",
           _LETTERS.c.secrecy != "none")
    .order_by(_LETTERS.c.id.desc())
    .limit(SAME_SEALED)
)
_SAME_MESSAGE_ID = (
    select(_LETTERS.c.id, _LETTERS.c.number, _LETTERS.c.year, _LETTERS.c.book, _LETTERS.c.mail_subject,
           _LETTERS.c.secrecy, _MESSAGES.c.sha256)
    .select_from(_LETTERS.outerjoin(_MESSAGES, _MESSAGES.c.queue_id == _LETTERS.c.queue_id))
    .where(_LETTERS.c.unit == bindparam("r_unit"), _LETTERS.c.sender == bindparam("r_sender"),
           _LETTERS.c.message_id == bindparam("r_message_id"))
    .order_by(_LETTERS.c.id)
    .limit(50)
)
# From the raw message's sha256 (ix_messages_sha256: the few messages with these bytes)
# to this unit's entry of one of them; no time limit, as for a Message-ID: the same
# bytes are the same letter however late they come again (a restored mailbox, a
# server's queue), while the same files in a new e-mail are a new one (`same_files`).
# `unit || ''` and `sender || ''`: else SQLite reads every letter of the unit from that
# sender through ix_letter_resend (a scanner's thousands) and each one's message.
_SAME_RAW = (
    select(_LETTERS.c.number, _LETTERS.c.year)
    .select_from(_MESSAGES.join(_LETTERS, _LETTERS.c.queue_id == _MESSAGES.c.queue_id))
    .where(_MESSAGES.c.sha256 == bindparam("w_sha256"), _MESSAGES.c.mail_from == bindparam("w_mail_from"),
           (_LETTERS.c.unit + "") == bindparam("w_unit"), (_LETTERS.c.sender + "") == bindparam("w_sender"))
    .order_by(_LETTERS.c.id)
    .limit(1)
)
_FILES = select(LetterAttachment.__table__.c.sha256).where(
    LetterAttachment.__table__.c.letter_id == bindparam("f_letter_id"))
# find_mailed_twin's: the unit's book of the years around the row's time.
_TWIN_WINDOW = (_LETTERS.c.unit == bindparam("t_unit"), _LETTERS.c.book == bindparam("t_book"),
                _LETTERS.c.year.in_(bindparam("t_years", expanding=True)), _LETTERS.c.status != "cancelled",
                _LETTERS.c.received_at >= bindparam("t_since"), _LETTERS.c.received_at <= bindparam("t_until"))
_TWIN_BY_REFERENCE = (
    select(_LETTERS.c.number, _LETTERS.c.year, _LETTERS.c.facts)
    .where(*_TWIN_WINDOW, _LETTERS.c.reference == bindparam("t_reference"),
           _LETTERS.c.letter_date == bindparam("t_date"))
    .order_by(_LETTERS.c.id.desc()).limit(20)
)
_TWIN_BY_FILES = (
    select(_LETTERS.c.number, _LETTERS.c.year, _LETTERS.c.facts)
    .where(*_TWIN_WINDOW, _LETTERS.c.id.in_(bindparam("t_ids", expanding=True)))
    .order_by(_LETTERS.c.id.desc()).limit(20)
)


# The queue ids of the paper emergency register's rows (gateway/tools/emergency_import.py
# `queue_id_for`): "emg" and hex digits. A mailed letter's are hex digits alone, so the
# range ["emg", "emh") of the index on letters.queue_id holds the paper rows and nothing
# else: the look-up below reads no mailed letter.
EMERGENCY_QUEUE_PREFIX = "emg"
PAPER_ROWS_READ = 2000  # around one letter, every unit's: an outage's paper registers

_PAPER_ROWS = (
    # Only the queue ids' range in the WHERE with the window: SQLite (no statistics) took
    # the unit's and book's equality for the better index, and read the unit's whole
    # book for every letter (3.8 ms with 5,000 letters); the unit is compared here.
    select(_LETTERS.c.id, _LETTERS.c.unit, _LETTERS.c.book, _LETTERS.c.status, _LETTERS.c.number,
           _LETTERS.c.year, _LETTERS.c.reference, _LETTERS.c.letter_date)
    .where(_LETTERS.c.queue_id >= EMERGENCY_QUEUE_PREFIX, _LETTERS.c.queue_id < "emh",
           _LETTERS.c.received_at >= bindparam("p_since"), _LETTERS.c.received_at <= bindparam("p_until"))
    .limit(PAPER_ROWS_READ)
)


def find_paper_twin(session: Session, unit: str, book: str, reference: str | None, letter_date: dt.date | None,
                    files: frozenset[str], around: dt.datetime, within: dt.timedelta) -> str | None:
    """For a letter registered from e-mail: the receive number of a row of the unit's
    paper emergency register in `book` (not cancelled) within `within` of `around` that is
    this letter: the same ที่ and ลงวันที่ (`reference` in its normal form; the row's as
    the clerk typed it, normalised here), or every one of the row's scans among `files`
    (sha256). Else None. `find_mailed_twin` the other way round: the registrar numbered
    the letter on paper while the gateway was down, and the e-mail (its sender's retry,
    the mailbox read again) arrives after the import: two numbers for one letter."""
    # The window from the hour the letter came in, so that the letters of one pipeline
    # batch (one transaction, seconds apart) share one look: ~0.1 ms of a statement
    # each was 2 % of the pipeline's CPU a letter, for rows that exist after an outage.
    hour = around.replace(minute=0, second=0, microsecond=0)
    looked = session.info.setdefault("paper_rows", {})
    if hour not in looked:
        looked[hour] = session.execute(_PAPER_ROWS, {"p_since": hour - within,
                                                     "p_until": hour + dt.timedelta(hours=1) + within}).all()
    rows = [row for row in looked[hour] if row.unit == unit and row.book == book and row.status != "cancelled"]
    if not rows:
        return None
    from rules.reference import normalise_reference

    for row in rows:
        if reference and letter_date and row.letter_date == letter_date and row.reference \
                and (normalise_reference(row.reference) or row.reference.strip()) == reference:
            return f"{row.number}/{row.year}"
    if files:
        for row in rows:
            scans = _file_hashes(session, row.id)
            if scans and scans <= files:
                return f"{row.number}/{row.year}"
    return None


def register_letter(session: Session, new: NewLetter, start: int = 1, number: int | None = None) -> Letter:
    """Give the letter its receive number and enter it in the register. `number`: the
    one it was given before a restore of the database (its folder copy carries it,
    storage/register.py `raise_counters`), entered again instead of a new one."""
    year = be_year(new.received_at)
    if number is None:
        number = allocate_number(session, new.unit, new.book, year, start)
    else:
        raise_counters(session, {(new.unit, new.book, year): number}, where=None)
    facts = new.facts
    letter_date = facts.get("letter_date")
    values: dict[str, Any] = {
        "queue_id": new.queue_id,
        "unit": new.unit,
        "book": new.book,
        "year": year,
        "number": number,
        "received_at": new.received_at,
        "registered_at": now_utc(),
        "sender": new.sender,
        "sender_name": new.sender_name,
        "subject": new.subject,
        "mail_subject": new.mail_subject,
        "message_id": new.message_id,
        "reference": facts.get("reference"),
        "letter_date": dt.date.fromisoformat(letter_date) if letter_date else None,
        "addressee": facts.get("addressee"),
        "urgency": facts.get("urgency") or "normal",
        "secrecy": facts.get("secrecy") or "none",
        "kind": facts.get("kind"),
        "facts": facts,
        "findings": new.findings,
        "raw_sha256": new.raw_sha256,
        "status": "registered",
        "review": new.review,
        "sender_auth": new.sender_auth,
    }
    values = fitted(_LETTERS, values)  # the sender's own words, cut to their columns (storage/text.py)
    # Two INSERTs from statements built once, not a flush of the ORM's unit of work
    # (~2 ms of CPU a letter, the pipeline's largest cost after the MIME parse). The
    # entry goes into the session as if loaded: callers read and change it as before,
    # and its attachments are read back from the database if anyone asks for them.
    letter_id = session.execute(_INSERT_LETTER, values).scalar_one()
    if new.attachments:
        session.execute(_INSERT_ATTACHMENT, [
            fitted(_ATTACHMENTS, {
                "letter_id": letter_id,
                "position": position,
                # Cut by its stem between whole letters, the extension kept: cut at the
                # column's length, a 10,000-character name lost its ".pdf" and split น้ำ.
                "filename": fitted_name(item.get("filename"), _ATTACHMENTS.c.filename.type.length),
                "sha256": item["sha256"],
                "size": item["size"],
                "content_type": item["content_type"],
                "declared_type": item.get("declared_type"),
                "signatures": item.get("signatures"),
            })
            for position, item in enumerate(new.attachments)
        ])
    letter = as_loaded(Letter, {"id": letter_id, **values})
    session.add(letter)
    return letter


_INSERT_LETTER = insert(_LETTERS).returning(_LETTERS.c.id)
_INSERT_ATTACHMENT = insert(_ATTACHMENTS)


def query_letters(session: Session, unit: str | None = None, year: int | None = None,
                  units: list[str] | None = None) -> list[Letter]:
    stmt = select(Letter).options(selectinload(Letter.attachments))
    if unit:
        stmt = stmt.where(Letter.unit == unit)
    if units is not None:
        stmt = stmt.where(Letter.unit.in_(units))
    if year:
        stmt = stmt.where(Letter.year == year)
    stmt = stmt.order_by(Letter.unit, Letter.book, Letter.year, Letter.number)
    return list(session.scalars(stmt))


def letter_as_dict(letter: Letter) -> dict[str, Any]:
    """The register entry as `register list --json` shows it.

    A classified entry (ลับ/ลับมาก) shows that it arrived and its number, never its
    subject, sender's text or file names: the ordinary register must not reveal them."""
    classified = letter.secrecy not in ("none", None)
    data: dict[str, Any] = {
        "unit": letter.unit,
        "book": letter.book,
        "year": letter.year,
        "number": letter.number,
        "receive_no": letter.receive_no,
        "received_at": to_bangkok(letter.received_at).isoformat(timespec="seconds"),
        "sender": letter.sender,
        "message_id": letter.message_id,
        "secrecy": letter.secrecy,
        "urgency": letter.urgency,
        "status": letter.status,
        "review": letter.review,
        "sender_auth": letter.sender_auth,  # ยืนยันผู้ส่ง (gateway/sender/results.py)
        "queue_id": letter.queue_id,
    }
    if classified:
        data["attachments"] = [{"sha256": a.sha256, "size": a.size} for a in letter.attachments]
        return data
    data.update(
        {
            "subject": letter.subject,
            "mail_subject": letter.mail_subject,
            "reference": letter.reference,
            "letter_date": letter.letter_date.isoformat() if letter.letter_date else None,
            "addressee": letter.addressee,
            "kind": letter.kind,
            "findings": letter.findings or [],
            "attachments": [
                {
                    "filename": a.filename,
                    "sha256": a.sha256,
                    "size": a.size,
                    "content_type": a.content_type,
                    "declared_type": a.declared_type,
                    "signatures": a.signatures or [],
                }
                for a in letter.attachments
            ],
        }
    )
    return data


def first_register_year(session: Session) -> int | None:
    """The oldest Buddhist-era year any register has numbers in, or None for an empty
    register."""
    return session.scalar(select(func.min(RegisterCounter.year)))


def newest_register_year(session: Session) -> int | None:
    """The newest Buddhist-era year any register has numbers in (one row per register
    and year: a small table), or None for an empty register."""
    return session.scalar(select(func.max(RegisterCounter.year)))


# How many of the latest entries `newest_receipt` looks at: a letter registered late (a
# wait for DNS, a release from quarantine) carries its earlier time, never a later one.
RECENT_ENTRIES = 200


def newest_receipt(session: Session) -> dt.datetime | None:
    """The latest time of receipt among the register's latest entries (by the primary
    key: a few hundred rows, whatever the register's size), or None for an empty one."""
    recent = select(_LETTERS.c.received_at).order_by(_LETTERS.c.id.desc()).limit(RECENT_ENTRIES).subquery()
    return session.scalar(select(func.max(recent.c.received_at)))


def unit_has_letters(session: Session, unit: str) -> bool:
    """Whether the register holds any entry of `unit` (a unit since removed from the
    directory stays readable while it does)."""
    return session.scalar(select(Letter.id).where(Letter.unit == unit).limit(1)) is not None


def find_by_number(session: Session, unit: str, number: int, year: int, book: str) -> Letter | None:
    """One entry by its receive number (เลขรับ) in a unit's book of a Buddhist-era year."""
    return session.scalar(
        select(Letter).options(selectinload(Letter.attachments))
        .where(Letter.unit == unit, Letter.book == book, Letter.year == year, Letter.number == number)
    )


def find_by_queue_id(session: Session, queue_id: str, unit: str | None = None) -> list[Letter]:
    """The entries one accepted message made (one per recipient unit)."""
    stmt = select(Letter).options(selectinload(Letter.attachments)).where(Letter.queue_id == queue_id)
    if unit:
        stmt = stmt.where(Letter.unit == unit)
    return list(session.scalars(stmt))


def units_with_letters(session: Session) -> list[str]:
    """Every unit the register holds an entry of."""
    return list(session.scalars(select(Letter.unit).distinct().order_by(Letter.unit)))


def units_with_classified_letters(session: Session) -> list[str]:
    """Units that have registered at least one ลับ/ลับมาก letter: the ones whose secret
    registrar (นายทะเบียนลับ) must hold a certificate for delivery to work."""
    stmt = select(Letter.unit).where(Letter.secrecy.not_in(("none",))).distinct().order_by(Letter.unit)
    return list(session.scalars(stmt))


def record_stamped_copy(session: Session, letter_id: int, filename: str, sha256: str) -> None:
    """The receive-stamped PDF (or receipt) of an ordinary letter, kept in the vault by
    the delivery runner when it builds the folder copy, so the desk can show it. In the
    transaction that marks the copy filed (outbox.finish): its facts read and written
    by statements built once, no Letter loaded."""
    row = session.execute(_FACTS, {"letter_id": letter_id}).first()
    if row is None:
        return
    session.execute(_SET_FACTS, {"letter_id": letter_id, "facts": {
        **(row.facts or {}), "stamped": {"filename": filename, "sha256": sha256}}})


_FACTS = select(_LETTERS.c.facts).where(_LETTERS.c.id == bindparam("letter_id"))
_SET_FACTS = update(_LETTERS).where(_LETTERS.c.id == bindparam("letter_id")).values(facts=bindparam("facts"))


def raise_counters(session: Session, highest: dict[tuple[str, str, int], int],
                   where: dict[tuple[str, str, int], str] | None,
                   floors: dict[tuple[str, str, int], int] | None = None) -> list[dict[str, Any]]:
    """Raise each register's counter to the highest number its folders show it gave
    (`highest`: (unit, book, year) -> number), in the caller's transaction; a counter
    already there is left alone. After a restore of an older backup the counters are
    the backup's, and the numbers given since would be given again to other letters:
    a second letter under an official receive number. Skipped, they are a gap in the
    register that the folder copies explain. Returns one record per counter raised;
    with `where` (the folder each number was seen in) each is also an entry of the
    register's actions (operator_actions, who "gateway"). `floors`: each register's
    cut-over number ([register.start_numbers]): the numbers below it are the previous
    system's, not part of the gap."""
    from storage.actions import add_action  # storage.actions imports nothing of this module

    raised: list[dict[str, Any]] = []
    insert_ = dialect_insert(session.get_bind().dialect.name)
    for (unit, book, year), number in sorted(highest.items()):
        session.execute(insert_(RegisterCounter).values(unit=unit, book=book, year=year, last_number=0)
                        .on_conflict_do_nothing())
        keys = {"r_unit": unit, "r_book": book, "r_year": year}
        before = session.execute(_COUNTER, keys).scalar_one()
        first = max(before + 1, (floors or {}).get((unit, book, year), 1))
        if first > number:
            continue  # at or past it already, or below the cut-over floor (never given again)
        session.execute(_RAISE, {**keys, "r_number": number})
        record = {"unit": unit, "book": book, "year": year, "first": first, "last": number}
        raised.append(record)
        if where is not None:
            add_action(session, who="gateway", action="numbers_given_before_restore", unit=unit,
                       reason=GAP_REASON, details={**record, "seen_in": where.get((unit, book, year))})
    return raised


def counter_values(session: Session, registers: list[tuple[str, str, int]]) -> dict[tuple[str, str, int], int]:
    """The last number each (unit, book, year) register gave (0 for one not begun)."""
    found = {}
    for unit, book, year in registers:
        value = session.scalar(select(RegisterCounter.last_number).where(
            RegisterCounter.unit == unit, RegisterCounter.book == book, RegisterCounter.year == year))
        found[(unit, book, year)] = value or 0
    return found


GAP_REASON = ("เลขรับเหล่านี้ให้ไปแล้วก่อนการกู้คืนฐานข้อมูลจากสำรอง ดูสำเนาหนังสือในโฟลเดอร์ของหน่วยงาน / "
              "numbers given before the database was restored from a backup: see the letters' copies in "
              "the unit's folder")

_ONE_COUNTER = (_COUNTERS.c.unit == bindparam("r_unit"), _COUNTERS.c.book == bindparam("r_book"),
                _COUNTERS.c.year == bindparam("r_year"))
# Read under the row lock (PostgreSQL; SQLite's transaction holds the write lock since the
# INSERT before it), so a letter numbered meanwhile cannot slip between read and raise.
_COUNTER = select(_COUNTERS.c.last_number).where(*_ONE_COUNTER).with_for_update()
_RAISE = update(_COUNTERS).where(*_ONE_COUNTER).values(last_number=bindparam("r_number"))
