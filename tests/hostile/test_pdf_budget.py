"""A letter's PDF work has a time budget (`[pipeline] pdf_budget`): when it is spent the
rest of its PDFs are noted "not read in time", the letter goes on (registered; sealed
as ลับ, since an unread PDF may carry a marking: fail closed), and the letters behind it
are not held up. The budget is for what the pipeline reads itself: a PDF the DATA check
already read (gateway/pipeline/pdf_readings.py) costs it nothing."""
from __future__ import annotations

from gateway.spool import Spool
from tests.letters import letter, make_pdf

LAT = "saraban.latkrabang@bangkok.go.th"
SENDER = "saraban.dds@bangkok.go.th"


def _slow_and_after():
    files = [(f"2569_dds_0403_57_{n}.pdf", make_pdf(f"enclosure {n}")) for n in range(1, 7)]
    slow = letter(files=[("2569_dds_0403_57.pdf", make_pdf("cover letter"))] + files)
    after = letter(subject="หนังสือฉบับถัดไป", files=[("2569_dds_0403_58.pdf", make_pdf("next"))])
    return slow, after


def _spent_budget(daemon_factory):
    # A budget far below what even starting the PDF reader takes: every PDF the pipeline
    # reads itself is past it, as the PDFs of a hostile letter would be.
    d = daemon_factory()
    d.config.write_text(d.config.read_text().replace("[pipeline]\n", "[pipeline]\npdf_budget = 0.001\n"))
    return d.start()


def test_a_spent_pdf_budget_lets_the_letter_go_on_sealed(daemon_factory):
    d = _spent_budget(daemon_factory)
    # Spooled as IMAP intake spools a letter: no DATA check, so the pipeline reads every PDF.
    spool = Spool(d.data_dir / "spool")
    slow_raw, after_raw = _slow_and_after()
    slow = spool.accept(slow_raw, SENDER, [LAT])
    after = spool.accept(after_raw, SENDER, [LAT])
    # Not wait_idle: the sealed letter's registrar copy waits for a registrar certificate.
    d.wait_for(lambda: len(d.register()) == 2 or None, 120, what="both letters registered")
    entries = {e["queue_id"]: e for e in d.register()}
    assert set(entries) == {slow, after}  # both registered, none held
    held_up = entries[slow]
    assert held_up["secrecy"] == "confidential" and held_up["book"] == "secret"
    events = [e for e in d.events() if e.get("queue_id") == slow and e.get("event") == "registered"]
    assert events and events[0]["secrecy"] == "confidential"


def test_pdfs_read_at_data_cost_the_pipeline_no_budget(daemon_factory):
    """The same letters through SMTP: the DATA check read every PDF whole, so nothing is
    unread and neither letter is sealed."""
    d = _spent_budget(daemon_factory)
    slow_raw, after_raw = _slow_and_after()
    slow, after = d.send(slow_raw, LAT), d.send(after_raw, LAT)
    d.wait_idle()
    entries = {e["queue_id"]: e for e in d.register()}
    assert set(entries) == {slow, after}
    assert {(e["secrecy"], e["book"]) for e in entries.values()} == {("none", "general")}
    assert not any("not read in time" in str(e["findings"]) for e in entries.values())
