"""What the web desk (gateway/web/) reads and writes beyond the tools' functions: one
page of a unit's register with Thai substring search and filters, one entry by id,
the notes and assignments (การปฏิบัติ) people add to an entry.

Thai is written without spaces between words, so search is by substring: SQLite
matches an FTS5 trigram index (three characters or more; shorter terms fall back to
LIKE), PostgreSQL uses ILIKE on an expression with a pg_trgm GIN index (both made by
migration 0006_web_desk)."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import Integer, String, and_, column, cast, exists, func, not_, or_, select, text
from sqlalchemy.orm import Session, selectinload

from storage.models import Letter, LetterAttachment
from storage.models import LetterAssignment, LetterNote

# Must stay the expression of the index in 0006_web_desk (PostgreSQL matches it exactly).
SEARCH_TEXT = ("(coalesce(letters.subject, '') || ' ' || coalesce(letters.sender_name, '') || ' ' "
               "|| letters.sender || ' ' || coalesce(letters.reference, ''))")
VERDICTS = ("passed", "failed", "indeterminate", "unsigned")


@dataclass
class RegisterQuery:
    unit: str
    book: str
    year: int
    search: str = ""
    review_only: bool = False
    verdict: str = ""  # one of VERDICTS, or "" for any
    received_from: dt.datetime | None = None
    received_to: dt.datetime | None = None  # exclusive
    page: int = 1
    per_page: int = 50


def _like_escape(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# The register keeps ที่ in its normal form (rules/reference.py: กท.๐๔๐๗/ว.๕๗ is stored
# as กท 0407/ว 57); a clerk copies it from the paper with its dots.
_CODE_DOT = re.compile(r"(?<=[ก-ฮ])\s*\.\s*(?=\d)")


# A receive number (เลขรับ) as the register lists it and the acknowledgement tells the
# sender, which is what a sender quotes on the telephone: 15/2569, ๑๕/๒๕๖๙, "เลขรับ 15",
# or the number alone; never with a leading zero, which a reference's office number
# has (กท 0508/2569 typed as 0508/2569 is that reference, not entry 508).
_RECEIVE_NO = re.compile(r"(?:เลข(?:ทะเบียน)?รับ(?:ที่)?)?\s*([1-9][0-9]{0,8})(?:\s*/\s*([0-9]{4}))?")


def typed_receive_no(term: str) -> tuple[int, int | None] | None:
    """(number, Buddhist-era year or None) when the search term is a receive number."""
    from rules.thai_text import thai_to_arabic

    found = _RECEIVE_NO.fullmatch(thai_to_arabic(term.strip()))
    if found is None:
        return None
    return int(found[1]), int(found[2]) if found[2] else None


def _search_condition(session: Session, term: str):
    """Letters write numbers in Thai or Arabic digits (กท.๐๔๐๗/ว.๕๗, ประจำปี 2569) and a
    clerk's keyboard types Arabic ones: a term with digits also matches its other
    spelling, whichever the letter used, and a reference as written on the letter
    matches the register's normal form of it."""
    from rules.reference import normalise_reference
    from rules.thai_text import arabic_to_thai, thai_to_arabic

    arabic = thai_to_arabic(term)
    spellings = dict.fromkeys((term, arabic, arabic_to_thai(term), _CODE_DOT.sub(" ", arabic),
                               normalise_reference(term) or term))
    conditions = [_spelling_condition(session, spelling, n) for n, spelling in enumerate(spellings)]
    # The entry of that receive number too: until session 56 "2/2569", as the list shows
    # it, found nothing (no text holds it), and "1523" found the letters whose reference
    # or subject holds those digits, not entry 1523.
    if (receive_no := typed_receive_no(term)) is not None:
        number, year = receive_no
        conditions.append(Letter.number == number if year is None else and_(Letter.number == number,
                                                                            Letter.year == year))
    return or_(*conditions)


def _spelling_condition(session: Session, term: str, n: int = 0):
    # The register stores subjects normalised as typed Thai (rules/thai_text.py
    # normalise_typed: ํา -> ำ, marks in order): the term is searched in the same form.
    from rules.thai_text import normalise_typed

    term = normalise_typed(term)
    dialect = session.get_bind().dialect.name
    pattern = f"%{_like_escape(term)}%"
    if dialect == "sqlite" and len(term) >= 3:
        phrase = '"' + term.replace('"', '""') + '"'  # one FTS5 string: no operators
        return Letter.id.in_(text(f"SELECT rowid FROM letters_fts WHERE letters_fts MATCH :phrase{n}")
                             .bindparams(**{f"phrase{n}": phrase}).columns(column("rowid", Integer)))
    if dialect == "postgresql":
        return text(f"{SEARCH_TEXT} ILIKE :pattern{n} ESCAPE '\\'").bindparams(**{f"pattern{n}": pattern})
    return text(f"{SEARCH_TEXT} LIKE :pattern{n} ESCAPE '\\'").bindparams(**{f"pattern{n}": pattern})


def _signatures_like(indication: str):
    return exists().where(LetterAttachment.letter_id == Letter.id,
                          cast(LetterAttachment.signatures, String).like(f'%"{indication}"%'))


def _verdict_condition(verdict: str):
    failed = _signatures_like("TOTAL_FAILED")
    indeterminate = _signatures_like("INDETERMINATE")
    passed = _signatures_like("TOTAL_PASSED")
    if verdict == "failed":
        return failed
    if verdict == "indeterminate":
        return and_(indeterminate, not_(failed))
    if verdict == "passed":
        # As the badge reads (gateway/web/pages_letters.py): a letter flagged for review
        # is not "passed", though its signatures verify (a document timestamp and no
        # signer, changes after signing, an unsigned cover letter): until session 52 the
        # filter listed a forged letter that only a public timestamp authority had stamped.
        return and_(passed, not_(failed), not_(indeterminate), not_(Letter.review))
    if verdict == "unsigned":
        return and_(not_(failed), not_(indeterminate), not_(passed))
    raise ValueError(f"unknown signature verdict filter {verdict!r}")


def register_page(session: Session, query: RegisterQuery) -> tuple[list[Letter], int]:
    """One page of the register, newest first, and how many entries match in all."""
    conditions = [Letter.unit == query.unit, Letter.book == query.book, Letter.year == query.year]
    term = query.search.strip()
    if term:
        conditions.append(_search_condition(session, term))
    if query.review_only:
        conditions.append(Letter.review.is_(True))
    if query.verdict:
        conditions.append(_verdict_condition(query.verdict))
    # In UTC, as received_at is written: SQLite keeps a datetime's wall clock and drops
    # its zone, so a Bangkok midnight compared as it was put the first seven hours of
    # each Bangkok day (00:00-07:00, 17:00-24:00 UTC) under the day before.
    if query.received_from is not None:
        conditions.append(Letter.received_at >= query.received_from.astimezone(dt.timezone.utc))
    if query.received_to is not None:
        conditions.append(Letter.received_at < query.received_to.astimezone(dt.timezone.utc))
    total = session.scalar(select(func.count()).select_from(Letter).where(*conditions)) or 0
    page = max(1, query.page)
    letters = list(session.scalars(
        select(Letter).options(selectinload(Letter.attachments)).where(*conditions)
        .order_by(Letter.number.desc()).offset((page - 1) * query.per_page).limit(query.per_page)))
    return letters, total


def register_years(session: Session, unit: str, book: str) -> list[int]:
    return list(session.scalars(select(Letter.year).where(Letter.unit == unit, Letter.book == book)
                                .distinct().order_by(Letter.year.desc())))


def letter_by_id(session: Session, letter_id: int) -> Letter | None:
    return session.scalar(select(Letter).options(selectinload(Letter.attachments)).where(Letter.id == letter_id))


def lock_letter(session: Session, letter_id: int) -> None:
    """Hold the entry's row until the transaction ends (PostgreSQL; SQLite's writers are
    serialised by BEGIN IMMEDIATE): two notes or assignments sent at once for one
    entry are then decided one after the other, each seeing the one before."""
    session.execute(select(Letter.id).where(Letter.id == letter_id).with_for_update())


def add_note(session: Session, letter_id: int, who: str, note: str) -> LetterNote:
    row = LetterNote(letter_id=letter_id, who=who, text=note)
    session.add(row)
    session.flush()
    return row


def notes_of(session: Session, letter_id: int) -> list[LetterNote]:
    return list(session.scalars(select(LetterNote).where(LetterNote.letter_id == letter_id).order_by(LetterNote.id)))


def assign(session: Session, letter_id: int, who: str, department: str) -> LetterAssignment:
    row = LetterAssignment(letter_id=letter_id, who=who, department=department)
    session.add(row)
    session.flush()
    return row


def assignments_of(session: Session, letter_id: int) -> list[LetterAssignment]:
    return list(session.scalars(select(LetterAssignment).where(LetterAssignment.letter_id == letter_id)
                                .order_by(LetterAssignment.id)))


def current_assignments(session: Session, letter_ids: list[int]) -> dict[int, str]:
    """The department each letter was last passed to."""
    out: dict[int, str] = {}
    if letter_ids:
        for row in session.scalars(select(LetterAssignment).where(LetterAssignment.letter_id.in_(letter_ids))
                                   .order_by(LetterAssignment.id)):
            out[row.letter_id] = row.department
    return out
