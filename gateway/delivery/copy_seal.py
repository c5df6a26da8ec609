"""The gateway's seal on the receive number a filed copy carries (since session 36).

At every start the supervisor reads the numbers back from the folders and raises a
counter that is behind (gateway/service/numbering.py): after a backup is put back, the
folders are what says which numbers were given since. Those folders are mailboxes:
anyone who can send mail to one can put a message there, and until session 36 any
message with `X-Saraban-Receive-No: 77777/2569` raised that book's counter to 77777 at
the next start (a gap of 77,774 numbers, written in the register's actions as numbers
"given before the restore"), and one naming the year 2700 made the clock check refuse
every letter from then on. Now a copy's number counts only if it carries
`X-Saraban-Copy-Seal`, an HMAC-SHA256 of its unit, book, number and queue id under a
key only the gateway holds (`keys/copy-seal.key`, made at the first start, in every
`backup create` with the rest of `keys/`, so a copy filed after a backup is still
known by the restored gateway).
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from gateway.secrecy.key_files import keys_dir

HEADER = "X-Saraban-Copy-Seal"
KEY_FILE = "copy-seal.key"
_VERSION = "v1"

_keys: dict[Path, bytes] = {}


def copy_seal_key(data_dir: str | os.PathLike) -> bytes:
    """The key of this data directory, made on first use (32 random bytes, 0600): two
    processes that make it at once keep the one linked first."""
    path = keys_dir(data_dir) / KEY_FILE
    if path in _keys:
        return _keys[path]
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = path.with_name(f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_bytes(32))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
        key = path.read_bytes()
    if len(key) < 16:
        raise OSError(f"{path} is damaged ({len(key)} bytes): move it aside; a new one is made at the next start")
    _keys[path] = key
    return key


def _signed(unit: str, book: str, receive_no: str, queue_id: str) -> bytes:
    # As numbers_seen reads the fields back: white space dropped, the unit in lower case.
    parts = ["".join(unit.split()).lower(), "".join(book.split()), "".join(receive_no.split()),
             "".join(queue_id.split())]
    return "\n".join(parts).encode()


def copy_seal(key: bytes, unit: str, book: str, receive_no: str, queue_id: str) -> str:
    return f"{_VERSION} " + hmac.new(key, _signed(unit, book, receive_no, queue_id), hashlib.sha256).hexdigest()


def seal_header(data_dir: str | os.PathLike, letter) -> tuple[str, str]:  # noqa: ANN001 - a storage Letter
    """(X-Saraban-Copy-Seal, its value) for a registered letter's copy: the folder copy's
    and the registrar copy's alike."""
    return HEADER, copy_seal(copy_seal_key(data_dir), letter.unit, letter.book, letter.receive_no, letter.queue_id)


def alert_seal_header(data_dir: str | os.PathLike, name_unit: str, queue_id: str) -> tuple[str, str]:
    """(X-Saraban-Copy-Seal, its value) for an alert filed under `name_unit` (registrar.py):
    an attempt done again finds it filed only with this seal (gateway/delivery/imap.py
    `_holds`). Its Message-ID and X-Saraban-Unit follow from the queue id, which the 250
    gives the sender: without the seal, a message the sender mailed to the registrar's
    account with those headers stood for the alert, and the alert was never filed
    (session 38's red team). Book "alert", number "-": never a receive number read back."""
    return HEADER, copy_seal(copy_seal_key(data_dir), name_unit, "alert", "-", queue_id)


def notice_seal_header(data_dir: str | os.PathLike, name_unit: str, queue_id: str) -> tuple[str, str]:
    """(X-Saraban-Copy-Seal, its value) for a notice filed into a unit's folder under
    `name_unit` (gateway/notices/send.py): as for an alert, its Message-ID and name follow
    from the queue id the sender was given, so only the seal tells the notice from a
    message the sender mailed to the unit's account with its headers. Book "notice",
    number "-": never a receive number read back."""
    return HEADER, copy_seal(copy_seal_key(data_dir), name_unit, "notice", "-", queue_id)


def sealed_by_us(key: bytes, value: str, unit: str, book: str, receive_no: str, queue_id: str) -> bool:
    """Whether `value` (the copy's X-Saraban-Copy-Seal) is this gateway's seal on these fields."""
    words = value.split()  # a long field is folded: "v1" and the digest on lines of their own
    if len(words) < 2 or words[0] != _VERSION or not queue_id:
        return False
    expected = hmac.new(key, _signed(unit, book, receive_no, queue_id), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, "".join(words[1:]).lower())
