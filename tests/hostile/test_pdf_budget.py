"""A letter's PDF work has a time budget (`[pipeline] pdf_budget`): when it is spent the
rest of its PDFs are noted "not read in time", the letter is registered for a person to
look at, and the letters behind it are not held up."""
from __future__ import annotations

from tests.letters import letter, make_pdf

LAT = "saraban.latkrabang@bangkok.go.th"


def test_a_spent_pdf_budget_lets_the_letter_go_on_flagged_for_review(daemon_factory):
    # A budget far below what even starting the PDF reader takes: every PDF of the
    # letter is past it, as the PDFs of a hostile letter would be.
    d = daemon_factory()
    d.config.write_text(d.config.read_text().replace("[pipeline]\n", "[pipeline]\npdf_budget = 0.001\n"))
    d.start()
    files = [(f"2569_dds_0403_57_{n}.pdf", make_pdf(f"enclosure {n}")) for n in range(1, 7)]
    slow = d.send(letter(files=[("2569_dds_0403_57.pdf", make_pdf("cover letter"))] + files), LAT)
    after = d.send(letter(subject="หนังสือฉบับถัดไป", files=[("2569_dds_0403_58.pdf", make_pdf("next"))]), LAT)
    d.wait_idle()
    entries = {e["queue_id"]: e for e in d.register()}
    assert set(entries) == {slow, after}  # both registered, none held
    held_up = entries[slow]
    assert held_up["review"] is True
    notes = [f for f in held_up["findings"] if f["rule"] == "unreadable_pdf"]
    assert notes and all(f["verdict"] == "warn" for f in notes)
    assert "could not be read in time" in notes[0]["message_en"]
    assert "อ่านไฟล์" in notes[0]["message_th"]
