"""Session 39's red team, two readings of enclosures.

* An XML file with no declaration and no namespace (`<letter><secrecy>ลับมาก</secrecy>`,
  a data export a browser shows as a tree, each element's text on a line) was read only
  as its markup, the marking glued to its tags: no marking, certain. Now any file that
  starts with an element is read as XML too.
* A damaged Word 97-2003 file was sealed right (ลับ, uncertain) but the registrar was told
  it was "a compound file of a kind not read (Outlook .msg, Visio, Publisher)": now a
  Word (Excel, PowerPoint) file that could not be read, or a compound file cut short."""
from __future__ import annotations

import struct

import pytest

from gateway.pipeline.parse import inspect_pdf, parse_mail
from gateway.secrecy.markings import classify_raw
from tests.classified.helpers import LATKRABANG, MARKER, db_rows, files_containing, maildir, sealing_daemon
from tests.classified.test_red_team_session15 import file_letter
from tests.secrecy.test_encrypted_files_fail_closed import cfb

BARE = "<letter><secrecy>ลับมาก</secrecy><subject>ขอส่งแผนรักษาความปลอดภัย</subject></letter>"


@pytest.mark.parametrize("name", ["2569_dds_0403_57_1.xml", "2569_dds_0403_57_1.txt"])
@pytest.mark.parametrize("text", [BARE, "\n  " + BARE, '<letter id="57">\n<secrecy>ลับมาก</secrecy>\n</letter>',
                                  "\ufeff" + BARE], ids=["bare", "indented", "attribute", "bom"])
def test_an_xml_file_without_a_declaration_is_read_as_xml(text, name):
    found = classify_raw(file_letter(name, text.encode("utf-8")))
    assert (found.level, found.certain) == ("secret", True), found


def test_text_that_only_mentions_a_marking_inside_an_element_stays_ordinary():
    text = "<note>เอกสารนี้ไม่ใช่หนังสือลับ ตามระเบียบว่าด้วยการรักษาความลับของทางราชการ</note>"
    found = classify_raw(file_letter("2569_dds_0403_57_1.xml", text.encode("utf-8")))
    assert found.level == "none", found


def _word97(text: str) -> bytes:
    fib = struct.pack("<6H", 0xA5EC, 0x00C1, 0, 0x041E, 0, 0)  # MS-DOC 2.5.2, not encrypted
    return cfb({"WordDocument": fib + text.encode("utf-16-le"), "1Table": b"\0" * 64})


def test_a_damaged_word_97_file_is_named_as_word_and_one_cut_short_as_cut():
    doc = _word97("ตารางประชุมคณะทำงาน")
    fat_garbled = doc[:0x4C] + b"\xff" * 32 + doc[0x4C + 32:]
    garbled = parse_mail(file_letter("2569_dds_0403_57_1.doc", fat_garbled), "", inspect_pdf)
    assert garbled.unread == ("file 2: Word 97-2003 file that could not be read (damaged)",), garbled.unread
    # Its directory past its end, as in a file cut short (Word writes the directory last).
    directory_gone = doc[:0x30] + struct.pack("<I", 64) + doc[0x34:]
    cut = parse_mail(file_letter("2569_dds_0403_57_1.doc", directory_gone), "", inspect_pdf)
    assert cut.unread == ("file 2: compound file (Word, Excel, PowerPoint 97-2003...) cut short (damaged)",), \
        cut.unread
    for data in (fat_garbled, directory_gone):
        found = classify_raw(file_letter("2569_dds_0403_57_1.doc", data))
        assert (found.level, found.certain) == ("confidential", False), found


def test_over_smtp_an_xml_enclosure_marked_ลับมาก_is_held_sealed_never_in_plain(tmp_path):
    """An XML file is not a type a letter may carry: the letter is held, and held sealed
    (its subject kept for the secret registrar only), as any classified letter is."""
    text = f"<letter><secrecy>ลับมาก</secrecy><body>{MARKER}</body></letter>"
    with sealing_daemon(tmp_path / "gw") as d:
        d.send(file_letter("2569_dds_0403_57_1.xml", text.encode("utf-8")), LATKRABANG)
        d.wait_idle(timeout=120)
        [(subject, reasons)] = db_rows(d, "select subject, reasons from quarantine")
        assert subject is None and "kept encrypted for the secret registrar" in reasons, (subject, reasons)
        assert maildir(d, "latkrabang") == []
        assert files_containing(d.data_dir, MARKER) == []


def test_reprocess_of_a_held_sealed_letter_says_it_is_kept_sealed_not_lost(tmp_path):
    """Session 43's red team: `reprocess` of a ลับ letter held sealed said its copy "is
    not in this gateway's data directory ... restore it from its backup", sending the
    sysadmin to a restore for a letter that is there, sealed. It says what `quarantine
    release` says: kept sealed, for the unit's secret registrar. Nothing changes."""
    text = f"<letter><secrecy>ลับมาก</secrecy><body>{MARKER}</body></letter>"
    with sealing_daemon(tmp_path / "gw") as d:
        d.send(file_letter("2569_dds_0403_57_1.xml", text.encode("utf-8")), LATKRABANG)
        d.wait_idle(timeout=120)
        [(held, queue_id)] = db_rows(d, "select id, queue_id from quarantine")
        for args in (["reprocess", queue_id, "--reason", "policy changed"],
                     ["quarantine", "release", str(held), "--reason", "ok"]):
            said = d.cli(*args, check=False)
            assert said.returncode == 1, said
            assert "is a classified letter kept sealed" in said.stderr and "secret registrar" in said.stderr
            assert "นายทะเบียนลับ" in said.stderr and "backup" not in said.stderr
        assert db_rows(d, "select id from quarantine") == [(held,)]
