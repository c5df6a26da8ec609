"""A letter's PDF work has a time budget (`[pipeline] pdf_budget`): when it is spent the
rest of its PDFs are noted "not read in time", the letter goes on (registered; sealed
as ลับ, since an unread PDF may carry a marking: fail closed), and the letters behind it
are not held up."""
from __future__ import annotations

from tests.letters import letter, make_pdf

LAT = "saraban.latkrabang@bangkok.go.th"


def test_a_spent_pdf_budget_lets_the_letter_go_on_sealed(daemon_factory):
    # A budget far below what even starting the PDF reader takes: every PDF of the
    # letter is past it, as the PDFs of a hostile letter would be.
    d = daemon_factory()
    d.config.write_text(d.config.read_text().replace("[pipeline]\n", "[pipeline]\npdf_budget = 0.001\n"))
    d.start()
    files = [(f"2569_dds_0403_57_{n}.pdf", make_pdf(f"enclosure {n}")) for n in range(1, 7)]
    slow = d.send(letter(files=[("2569_dds_0403_57.pdf", make_pdf("cover letter"))] + files), LAT)
    after = d.send(letter(subject="หนังสือฉบับถัดไป", files=[("2569_dds_0403_58.pdf", make_pdf("next"))]), LAT)
    # Not wait_idle: the sealed letter's registrar copy waits for a registrar certificate.
    d.wait_for(lambda: len(d.register()) == 2 or None, 120, what="both letters registered")
    entries = {e["queue_id"]: e for e in d.register()}
    assert set(entries) == {slow, after}  # both registered, none held
    held_up = entries[slow]
    assert held_up["secrecy"] == "confidential" and held_up["book"] == "secret"
    events = [e for e in d.events() if e.get("queue_id") == slow and e.get("event") == "registered"]
    assert events and events[0]["secrecy"] == "confidential"
