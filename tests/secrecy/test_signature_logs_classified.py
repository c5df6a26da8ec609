"""What verifying a classified letter's signed PDF says goes to no log (leak red team,
30 Nov 2026).

The pipeline reads each PDF's text in the signature worker, which verifies a file that
may be signed in the same trip, before anyone knows whether the letter is classified.
The worker logged what it found as it went: the SHA-256 of the plaintext file (a hash
that confirms a candidate document was received, which the sealed store avoids on
purpose), the names of the signature fields (the signer's software may name them after
the signer), pyHanko's words about the signer and about what changed in the file. For a
ลับ letter those events went to the journal, whose verdict the pipeline then rightly
dropped. They now travel with the verdict and are logged only once the letter is known
to be ordinary."""
from __future__ import annotations

import hashlib

from tests.classified.helpers import MARKER, db_rows, log_lines_containing, sealing_daemon, wait_processed
from tests.letters import letter
from tests.pki import build_pki, make_letter, sign_letter, tamper_draw_content

LAT = "saraban.latkrabang@bangkok.go.th"


_VERIFYING = ("pdf_signature", "pdf_read_leniently", "pdf_unreadable", "pdf_dss_unreadable", "pdf_verify_worker")


def _verifying_events(d) -> list[dict]:
    return [e for e in d.events() if str(e.get("event", "")).startswith(_VERIFYING)]


def test_verifying_a_classified_letters_pdf_logs_nothing_of_it(tmp_path):
    pki = build_pki(tmp_path / "pki")
    # Signed, then drawn on: verifying it logs pyHanko's account of the change
    # (pdf_signature_suspicious_change, with the objects it found).
    pdf = tamper_draw_content(sign_letter(make_letter(), pki, field_name=f"ลายมือชื่อ {MARKER}"))
    digest = hashlib.sha256(pdf).hexdigest()
    extra = f'[signatures]\ntrust_roots = "{pki.roots_pem}"\nrevocation_dir = "{pki.revocation_dir}"\nstamp = false\n'
    with sealing_daemon(tmp_path / "gw", extra) as d:
        secret = d.send(letter(subject="ลับ ขอส่งแผนรักษาความปลอดภัย", files=[("2569_dds_0403_57.pdf", pdf)]), LAT)
        wait_processed(d)
        assert db_rows(d, "select secrecy, book from letters where queue_id = ?", secret) == [
            ("confidential", "secret")]
        assert _verifying_events(d) == []
        assert log_lines_containing(d, MARKER) == []
        assert log_lines_containing(d, digest) == []

        # The same file in an ordinary letter: its verification is logged as before.
        d.send(letter(subject="ขอส่งแผนการปฏิบัติงาน", files=[("2569_dds_0403_58.pdf", pdf)]), LAT)
        wait_processed(d)
        assert "pdf_signature_suspicious_change" in [e["event"] for e in _verifying_events(d)]
