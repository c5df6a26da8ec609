"""A backup archive's members, restored with and without PEP 706's "data" filter
(session 47). `make` now prefers Debian's own Python 3.11.2, whose `tarfile` has no
`filter` argument: `backup restore` raised TypeError's traceback there. Without the
filter a member that is not a file or folder of the data directory is refused before
anything is written; with it, tarfile's own filter refuses it."""
from __future__ import annotations

import io
import stat
import tarfile
from pathlib import Path

import pytest

from gateway.tools import backup
from gateway.tools.backup import extract_data


def archive(tmp_path: Path, *members: tuple[tarfile.TarInfo, bytes | None]) -> Path:
    path = tmp_path / "backup.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def entry(name: str, kind: bytes = tarfile.REGTYPE, mode: int = 0o644, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.linkname = kind, mode, link
    return info


@pytest.fixture(params=["data filter", "no filter"])
def tar_module(request, monkeypatch):
    if request.param == "no filter":
        monkeypatch.delattr(tarfile, "data_filter", raising=False)
    elif not hasattr(tarfile, "data_filter"):
        pytest.skip("this Python's tarfile has no data filter")
    return request.param


def restore_members(path: Path, destination: Path) -> None:
    with tarfile.open(path, "r:gz") as tar:
        extract_data(tar, destination, tar.getmembers())


def test_files_and_folders_are_restored_without_set_id_bits(tmp_path, tar_module):
    path = archive(tmp_path, (entry("vault", tarfile.DIRTYPE, 0o700), None),
                   (entry("vault/ab", mode=0o4755), b"letter"),
                   (entry("keys/key.pem", mode=0o600), b"key"))
    out = tmp_path / "data"
    restore_members(path, out)
    assert (out / "vault" / "ab").read_bytes() == b"letter"
    assert (out / "keys" / "key.pem").read_bytes() == b"key"
    assert not (out / "vault" / "ab").stat().st_mode & (stat.S_ISUID | stat.S_ISGID)


@pytest.mark.parametrize("hostile", [
    entry("../outside.txt"),
    entry("vault/../../outside.txt"),
    entry("/tmp/saraban-absolute-member.txt"),
    entry("vault/link", tarfile.SYMTYPE, link="/etc/passwd"),
    entry("vault/hard", tarfile.LNKTYPE, link="../../outside.txt"),
    entry("vault/fifo", tarfile.FIFOTYPE),
], ids=["dotdot", "dotdot-inside", "absolute", "symlink-out", "hardlink-out", "fifo"])
def test_a_member_leaving_the_data_directory_is_refused(tmp_path, tar_module, hostile):
    data = b"x" if hostile.isreg() else None
    path = archive(tmp_path, (entry("vault/first", mode=0o644), b"first"), (hostile, data))
    out = tmp_path / "deep" / "data"
    out.mkdir(parents=True)
    if tar_module == "data filter" and hostile.name.startswith("/"):
        restore_members(path, out)  # tarfile's filter takes the leading slash off
        assert (out / "tmp" / "saraban-absolute-member.txt").exists()
    else:
        with pytest.raises(tarfile.TarError):
            restore_members(path, out)
    assert not (tmp_path / "deep" / "outside.txt").exists()
    assert not (tmp_path / "outside.txt").exists()
    assert not Path("/tmp/saraban-absolute-member.txt").exists()
    if tar_module == "no filter":  # refused before anything is written
        assert not (out / "vault" / "first").exists()


def test_restore_says_a_hostile_archive_in_words(tmp_path, tar_module, monkeypatch):
    """Through the command's own function: a ToolError naming the file, not a traceback."""
    from gateway.config.settings import load_settings
    from tests.daemon import write_config

    config = write_config(tmp_path / "gw")
    settings = load_settings(config)
    manifest = b'{"database": false, "directories": ["vault"]}'
    path = archive(tmp_path, (entry(backup.MANIFEST), manifest), (entry("../../escaped.txt"), b"x"))
    with pytest.raises(backup.ToolError, match="not a backup written by"):
        backup.restore(settings, path)
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "gw" / "escaped.txt").exists()
