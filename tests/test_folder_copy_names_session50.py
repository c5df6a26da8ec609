"""Red team of the folder copy's file names (session 50): a name the sender encoded
(RFC 2047 inside the quoted name, as Outlook writes it, or RFC 2231, as Thunderbird
does) reached the clerk's copy with its invisible characters. U+202E (RIGHT-TO-LEFT
OVERRIDE) makes a mail client draw what follows it reversed: the enclosure
"2569_dds_0403_58_<U+202E>txt.pdf" showed in the copy as "2569_dds_0403_58_fdp.txt", while
the same name sent as raw UTF-8 was cleaned (part_names.py, rules/names.py `saved_name`).
Over the real daemon, its Maildir copy read as a mail client reads it."""
from __future__ import annotations

import email
import email.policy

import pytest

from tests.daemon import Daemon, write_config
from tests.letters import letter, make_pdf

LATKRABANG = "saraban.latkrabang@bangkok.go.th"
HIDDEN = ("\u202e", "\u202d", "\u2066", "\u2067", "\u200b", "\u200f")


@pytest.fixture(scope="module")
def gw(tmp_path_factory):
    d = Daemon(write_config(tmp_path_factory.mktemp("names51"))).start()
    yield d
    d.stop()


@pytest.mark.parametrize("style", ["rfc2047", "rfc2231"])
def test_an_encoded_name_with_a_bidi_override_is_not_drawn_reversed_in_the_clerks_copy(gw, style):
    files = [("2569_dds_0403_57.pdf", make_pdf("cover letter")),
             ("2569_dds_0403_58_\u202etxt.pdf", make_pdf("enclosure"))]
    queue_id = gw.send(letter(files=files, filename_style=style), LATKRABANG)
    gw.wait_idle()
    entry = next(e for e in gw.register() if e["queue_id"] == queue_id)
    assert entry["receive_no"]
    [path] = [p for p in gw.maildir_files("latkrabang") if p.name.startswith(queue_id)]
    copy = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    names = [p.get_filename() for p in copy.walk() if not p.is_multipart() and p.get_filename()]
    assert "2569_dds_0403_58_txt.pdf" in names, names
    assert not [n for n in names if any(ch in n for ch in HIDDEN)], names
    # Content-Type's name= too: Outlook shows that one when it has no filename.
    type_names = [p.get_param("name") for p in copy.walk() if not p.is_multipart() and p.get_param("name")]
    assert not [n for n in type_names if any(ch in str(n) for ch in HIDDEN)], type_names


@pytest.mark.parametrize("style", ["rfc2047", "rfc2231"])
def test_a_second_content_disposition_field_does_not_keep_the_override(gw, style):
    """The same name in two Content-Disposition fields of the part: until session 50 a
    part with two was left as sent (part_names.py: "which one a client takes is its own
    affair"), whatever either held, and the override reached the clerk's copy again."""
    files = [("2569_dds_0403_57.pdf", make_pdf("cover letter")),
             ("2569_dds_0403_58_\u202etxt.pdf", make_pdf("enclosure"))]
    raw = letter(files=files, filename_style=style)
    lines = raw.split(b"\r\n")
    # The enclosure's field, the last file's (folded: the name on its continuation line).
    at = max(i for i, line in enumerate(lines) if line.lower().startswith(b"content-disposition"))
    end = at + 1
    while lines[end][:1] in (b" ", b"\t"):
        end += 1
    raw = b"\r\n".join(lines[:end] + lines[at:end] + lines[end:])
    queue_id = gw.send(raw, LATKRABANG)
    gw.wait_idle()
    entry = next(e for e in gw.register() if e["queue_id"] == queue_id)
    assert entry["receive_no"]
    [path] = [p for p in gw.maildir_files("latkrabang") if p.name.startswith(queue_id)]
    copy = email.message_from_bytes(path.read_bytes(), policy=email.policy.compat32)
    [part] = [p for p in copy.walk() if len(p.get_all("content-disposition") or ()) == 2]
    read = [email.message_from_string(f"Content-Disposition: {v}\n\n", policy=email.policy.default).get_filename()
            for v in part.get_all("content-disposition")]
    assert read == ["2569_dds_0403_58_txt.pdf"] * 2, read
