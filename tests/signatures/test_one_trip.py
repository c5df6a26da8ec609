"""One trip per PDF (issue 16): a PDF that cannot carry a signature never reaches the
verifier; one that may is read and verified by one worker in one call, and the
signature step uses that verdict. The screen must not let a signed file pass as
unsigned, and a hostile file is still cut off by its deadline."""
from __future__ import annotations

import io
import sqlite3
import time

import pytest

from gateway.pipeline.parse import parse_mail
from gateway.pipeline.pdf_inspect import inspect_pdf
from gateway.signatures.check import SignatureChecker, may_be_signed, needs_verifier
from gateway.signatures.worker import VerifyPool
from rules.model import NOT_READ_IN_TIME
from tests.letters import letter, make_pdf
from tests.paths import shared_path

TIMEOUT_S = 60.0  # generous: the machine is shared


def text_reader(data: bytes, timeout: float | None = None):
    return inspect_pdf(data)  # the test files are not hostile to the text reader


class Counting(VerifyPool):
    """A real pool that counts the trips made to it."""

    def __init__(self):
        super().__init__(workers=1)
        self.trips = {"verify": 0, "read_and_verify": 0, "read": 0}

    def verify_blocking(self, *args, **kwargs):
        self.trips["verify"] += 1
        return super().verify_blocking(*args, **kwargs)

    def read_blocking(self, *args, **kwargs):
        self.trips["read"] += 1
        return super().read_blocking(*args, **kwargs)

    def read_and_verify_blocking(self, *args, verify=True, **kwargs):
        self.trips["read_and_verify"] += verify
        return super().read_and_verify_blocking(*args, verify=verify, **kwargs)


@pytest.fixture
def checker(trust):
    c = SignatureChecker(trust, Counting(), TIMEOUT_S, text_reader=text_reader)
    yield c
    c.close()


def hidden_signature(signed: bytes, how: str) -> bytes:
    """A PDF whose signature dictionary (the real CMS of `signed`, over other bytes) is out
    of a byte search's sight: in a compressed object stream, or keyed /Byte#52ange."""
    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.pdf_utils.writer import PdfFileWriter

    n = generic.pdf_name
    contents = PdfFileReader(io.BytesIO(signed)).embedded_signatures[0].sig_object["/Contents"]
    w = PdfFileWriter(stream_xrefs=how == "object_stream")
    w.insert_page(generic.DictionaryObject({
        n("/Type"): n("/Page"),
        n("/MediaBox"): generic.ArrayObject(map(generic.NumberObject, (0, 0, 595, 842))),
        n("/Contents"): w.add_object(generic.StreamObject(stream_data=b"")),
    }))
    page_ref = w.find_page_for_modification(0)[0]
    sig = generic.DictionaryObject({
        n("/Type"): n("/Sig"), n("/Filter"): n("/Adobe.PPKLite"), n("/SubFilter"): n("/ETSI.CAdES.detached"),
        n("/ByteRange"): generic.ArrayObject(map(generic.NumberObject, (0, 100, 200, 100))),
        n("/Contents"): contents,
        n("/Name"): generic.pdf_string("xx"),  # two bytes to give back for the escape below
    })
    if how == "object_stream":
        sig_ref = w.add_object(sig, obj_stream=w.prepare_object_stream())
    else:
        sig_ref = w.add_object(sig)
    field = w.add_object(generic.DictionaryObject({
        n("/FT"): n("/Sig"), n("/T"): generic.pdf_string("Signature1"), n("/V"): sig_ref,
        n("/Type"): n("/Annot"), n("/Subtype"): n("/Widget"), n("/P"): page_ref,
        n("/Rect"): generic.ArrayObject(map(generic.NumberObject, (0, 0, 0, 0))),
    }))
    page_ref.get_object()[n("/Annots")] = generic.ArrayObject([field])
    w.root[n("/AcroForm")] = generic.DictionaryObject({n("/Fields"): generic.ArrayObject([field])})
    out = io.BytesIO()
    w.write(out)
    data = out.getvalue()
    if how == "escaped":  # same length, so every offset of the file still holds
        assert data.count(b"/ByteRange") == 1 and data.count(b"(xx)") == 1
        data = data.replace(b"/ByteRange", b"/Byte#52ange").replace(b"(xx)", b"()")
    assert b"/ByteRange" not in data
    return data


def test_the_screen_lets_only_pdfs_without_a_signature_dictionary_skip_the_verifier(signed):
    assert not needs_verifier(make_pdf("cover letter"))
    assert not needs_verifier(make_pdf("cover letter", filler=200_000))  # random bytes are not names
    assert not needs_verifier(make_pdf("cover letter") + b"% /Times#20New#20Roman\n")  # an escape, but no signature
    assert needs_verifier(signed)
    for hidden in (b"/Byte#52ange", b"/#42#79#74#65#52#61#6e#67#65", b"/Type /Obj#53tm", b"/Type /X#52ef",
                   b"/#42yteRange", b"/ByteRang#65", b"/Type/Obj#53tm"):  # first or last letter, no space
        assert needs_verifier(make_pdf("cover letter") + b"% " + hidden + b" [0 1 2 3]\n"), hidden
    assert may_be_signed(b"<< /Byte#52ange [0 1 2 3] >>") and not may_be_signed(b"/Type /ObjStm")
    # A flood of escapes is not decoded in the runner: it goes to the verifier.
    assert needs_verifier(make_pdf("cover letter") + b"/#41" * 200_000)


@pytest.mark.parametrize("how", ["escaped", "object_stream"])
def test_a_signature_hidden_from_a_byte_search_is_still_verified_and_reported(how, signed, trust, checker):
    data = hidden_signature(signed, how)
    raw = letter(files=[("2569_dds_0403_57.pdf", data)])
    mail = parse_mail(raw, "", checker.read_pdf)
    report = checker.check(raw, mail)
    [entry] = report.by_attachment[0]
    assert entry["indication"] == "TOTAL_FAILED"  # the CMS signs other bytes
    [finding] = report.findings
    assert finding.verdict == "fail"
    assert checker.pool.trips == {"verify": 0, "read_and_verify": 1, "read": 0}


def test_a_signed_pdf_makes_one_trip_for_its_text_and_its_signatures(signed, checker):
    raw = letter(files=[("2569_dds_0403_57.pdf", signed)])
    mail = parse_mail(raw, "", checker.read_pdf)
    assert "Saraban test letter" in mail.attachments[0].pdf_text
    report = checker.check(raw, mail)
    assert [e["indication"] for e in report.by_attachment[0]] == ["TOTAL_PASSED"]
    assert report.findings[0].verdict == "pass"
    assert checker.pool.trips == {"verify": 0, "read_and_verify": 1, "read": 0}
    # Nothing is kept past the letter: checking it again verifies again.
    checker.check(raw, mail)
    assert checker.pool.trips == {"verify": 1, "read_and_verify": 1, "read": 0}


def test_an_unsigned_pdf_never_reaches_the_verifier(checker):
    raw = letter(files=[("2569_dds_0403_57.pdf", make_pdf("cover letter"))])
    mail = parse_mail(raw, "", checker.read_pdf)
    assert "cover letter" in mail.attachments[0].pdf_text
    report = checker.check(raw, mail)
    assert report.by_attachment == {0: []} and report.findings == []  # as the verifier says of it
    assert checker.pool.trips == {"verify": 0, "read_and_verify": 0, "read": 1}  # text only, one trip


def test_a_verdict_read_for_a_letter_never_checked_is_dropped(signed, checker):
    # A classified letter is read (its PDF verified in the same trip) but never checked.
    parse_mail(letter(files=[("a.pdf", signed)]), "", checker.read_pdf)
    # The next letter's check reports only its own files and forgets the rest.
    other = letter(files=[("b.pdf", make_pdf("next"))])
    assert checker.check(other, parse_mail(other, "", checker.read_pdf)).by_attachment == {0: []}
    again = letter(files=[("a.pdf", signed)])
    checker.check(again, parse_mail(again, "", text_reader))  # read without the checker
    assert checker.pool.trips == {"verify": 1, "read_and_verify": 1, "read": 1}


def test_a_hanging_pdf_is_cut_off_in_either_half_of_its_trip_and_the_pool_recovers(signed, trust):
    # Deadlines far below what reading or verifying needs stand in for a PDF that hangs.
    pool = VerifyPool(workers=1)
    try:
        info, verdict = pool.read_and_verify_blocking(signed, trust, 0.001, TIMEOUT_S)
        assert info.error.startswith(NOT_READ_IN_TIME) and info.text is None
        assert verdict is None  # not verified: the signature step tries on its own
        info, verdict = pool.read_and_verify_blocking(signed, trust, TIMEOUT_S, 0.001)
        assert info.error is None and "Saraban test letter" in info.text
        assert verdict.document == "timeout" and verdict.indication == "INDETERMINATE"
        # The letter's time runs out before verifying starts: the worker skips it and is kept.
        info, verdict = pool.read_and_verify_blocking(signed, trust, TIMEOUT_S, TIMEOUT_S, deadline=time.monotonic())
        assert info.text and verdict.document == "timeout"
        # A text-only trip (a PDF that cannot be signed) is cut off the same way. The worker
        # is warm now and reads a one-page file in about a millisecond: 300 pages take tens.
        assert pool.read_blocking(make_pdf("cover letter", pages=300), 0.001).error.startswith(NOT_READ_IN_TIME)
        # Killed workers were replaced: the next file is read and verified normally.
        info, verdict = pool.read_and_verify_blocking(signed, trust, TIMEOUT_S, TIMEOUT_S)
        assert info.text and verdict.indication == "TOTAL_PASSED"
    finally:
        pool.close()


def test_the_letters_pdf_budget_bounds_the_one_trip(signed, checker):
    raw = letter(files=[("2569_dds_0403_57.pdf", signed)])
    started = time.monotonic()
    mail = parse_mail(raw, "", lambda data: checker.read_pdf(data, 0.001))  # as PdfBudget.read calls it
    assert mail.attachments[0].pdf_error.startswith(NOT_READ_IN_TIME)
    report = checker.check(raw, mail, deadline=started + 0.001)  # the budget is spent
    [entry] = report.by_attachment[0]
    assert entry["document"] == "timeout" and report.findings[0].verdict == "fail"  # never "verified"
    assert checker.pool.trips == {"verify": 0, "read_and_verify": 1, "read": 0}


def corpus():
    base = shared_path("corpus", "pdf")
    return sorted(base.rglob("*.pdf"))


def test_no_corpus_pdf_the_verifier_finds_signed_is_screened_out(trust):
    """Every file of the shared corpora the screen lets skip: the verifier finds no
    signature in it either (so skipping it changes nothing the register shows)."""
    skipped = [p for p in corpus() if not needs_verifier(p.read_bytes())]
    pool = VerifyPool(workers=1)
    try:
        for path in skipped:
            verdict = pool.verify_blocking(path.read_bytes(), trust, TIMEOUT_S)
            assert not verdict.signatures, path.name
    finally:
        pool.close()
    assert len(skipped) < len(corpus())


def test_a_classified_letters_signatures_reach_no_register(tmp_path, pki):
    """In the pipeline: the signed PDF of a ลับ letter is verified in the trip that reads
    it, and that verdict is dropped: neither the register nor its database holds it."""
    from gateway.config.settings import load_settings
    from gateway.pipeline.runner import run_once
    from gateway.service.services import open_services
    from tests.classified.helpers import MARKER
    from tests.daemon import write_config
    from tests.letters import SEED_DATE, SEED_REFERENCE
    from tests.pki import VALID_SIGNER_NAME, make_letter, sign_letter

    extra = (f'\n[signatures]\nstamp = false\ntrust_roots = "{pki.roots_pem}"\n'
             f'revocation_dir = "{pki.revocation_dir}"\n')
    settings = load_settings(write_config(tmp_path, extra=extra))
    pdf = sign_letter(make_letter(), pki)
    body = f"ลับ\nที่ {SEED_REFERENCE}\nวันที่ {SEED_DATE}\nเรื่อง แผน {MARKER}\nเรียน ผู้อำนวยการเขตลาดกระบัง\n"
    secret = letter(subject=f"ลับ แผน {MARKER}", body=body, files=[("2569_dds_0403_57.pdf", pdf)])
    plain = letter(files=[("2569_dds_0403_58.pdf", make_pdf("next"))])
    with open_services(settings, "pipeline", upgrade_schema=True) as services:
        for raw in (secret, plain):
            services.spool.accept(raw, "saraban.dds@bangkok.go.th", ["saraban.latkrabang@bangkok.go.th"])
            assert run_once(services) == 1
        url = settings.database_url
    assert url.startswith("sqlite")
    db = sqlite3.connect(url.split("///", 1)[1])
    books = [r[0] for r in db.execute("select book from letters order by id")]
    assert books == ["secret", "general"]
    signatures = [r[0] for r in db.execute("select signatures from letter_attachments")]
    assert all(s in (None, "[]", "null") for s in signatures), signatures
    dump = "\n".join(db.iterdump())
    assert VALID_SIGNER_NAME not in dump and "TOTAL_PASSED" not in dump
