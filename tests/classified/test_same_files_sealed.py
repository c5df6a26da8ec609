"""A ลับ letter sent again in a new e-mail (its own Message-ID) is flagged for review,
as an ordinary one is (`same_files`).

A sender who saw no acknowledgement sends the letter again from its mail client: a new
Message-ID, a new Date and MIME boundary, the very same PDF. An ordinary letter so sent
again is registered with the clerk's warning `same_files` naming the earlier number and
its entry flagged for review (docs/notices.md). A classified one kept no hash of its
files in plain (only hashes of their encrypted blobs, new random keys each time), so it
was numbered a second time in the secret book, a second sealed copy went to the
registrar, and nothing told anyone it was the same letter (the register red team's
run: 1/2569 and 2/2569, both `review: false`).

Now the sealed letter keeps a keyed hash (HMAC under a key derived from the gateway's
own private key) of its files' set, and the same set from the same sender within 30
days is `same_files`. The hash says nothing to whoever reads the database without the
gateway's key: the file's plain SHA-256 is nowhere on disk. Through the real daemon
over SMTP."""
from __future__ import annotations

import hashlib

from tests.classified.helpers import (
    LATKRABANG, add_registrar, assert_sealed_nowhere_plain, classified_letter, make_gateway_key, maildir,
    wait_processed,
)

MARKER = "ZQXJ-SAMEFILES-SEALED-KPLV"


def _files_with(root, needle: bytes) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_a_secret_letter_sent_again_in_a_new_email_is_flagged_with_the_earlier_number(daemon_factory):
    d = daemon_factory()
    make_gateway_key(d)
    add_registrar(d)
    d.start()
    raw, pdf = classified_letter("ลับ", marker=MARKER)
    again, same_pdf = classified_letter("ลับ", marker=MARKER)  # a new e-mail: own Message-ID, Date, boundary
    assert again != raw and same_pdf == pdf
    other, _ = classified_letter("ลับ", marker=MARKER + "-OTHER")
    first = d.send(raw, LATKRABANG)
    second = d.send(again, LATKRABANG)
    third = d.send(other, LATKRABANG)
    wait_processed(d, registrar=3)
    d.wait_idle()

    entries = sorted(d.register(), key=lambda e: e["number"])
    year = entries[0]["year"]
    assert [(e["queue_id"], e["book"], e["number"], e["review"]) for e in entries] == [
        (first, "secret", 1, False), (second, "secret", 2, True), (third, "secret", 3, False)]

    # What the clerk and the secret registrar read of the entry: the warning with the
    # earlier number, in Thai and English, and nothing of the letter.
    shown = d.cli("register", "show", "saraban.latkrabang", "--book", "secret", f"2/{year}").stdout
    assert "same_files" in shown and f"1/{year}" in shown, shown
    assert "ไฟล์แนบทุกไฟล์ตรงกับ" in shown and "possibly the same letter sent twice" in shown, shown
    assert "review" in shown and "yes" in shown
    first_shown = d.cli("register", "show", "saraban.latkrabang", "--book", "secret", f"1/{year}").stdout
    assert "same_files" not in first_shown, first_shown
    viewed = d.cli("letter", "view", f"2/{year}", "--unit", "saraban.latkrabang", "--who", "สมศรี").stdout
    assert "same_files" in viewed and f"1/{year}" in viewed, viewed

    # Still one sealed copy for the registrar a letter, nothing of it in plain, and the
    # file's plain hash is not in the register nor in any file of the gateway.
    assert len(maildir(d, "latkrabang.secret")) == 3
    assert_sealed_nowhere_plain(d, {"first": first, "second": second}, marker=MARKER)
    digest = hashlib.sha256(pdf).hexdigest().encode()
    assert _files_with(d.data_dir, digest) == []
    assert _files_with(d.data_dir, bytes.fromhex(digest.decode())) == []
