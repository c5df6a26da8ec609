"""What a sending MTA sees at the SMTP level."""
from __future__ import annotations

import smtplib

from tests.letters import letter


def test_unknown_saraban_address_is_550_511_in_ascii(daemon):
    with daemon.smtp() as client:
        client.ehlo("sender.example")
        client.mail("a@example.org")
        code, text = client.rcpt("saraban.nosuchunit@bangkok.go.th")
    assert code == 550
    assert text.startswith(b"5.1.1")
    # RFC 5321: reply text is ASCII for a client that did not use SMTPUTF8.
    assert text.isascii() and b"no such saraban address" in text


def test_relay_attempts_are_550_571(daemon):
    with daemon.smtp() as client:
        client.ehlo("sender.example")
        client.mail("a@example.org")
        for address in ("someone@gmail.com", "director@bangkok.go.th", "saraban.latkrabang@evil.example"):
            code, text = client.rcpt(address)
            assert (code, text[:5]) == (550, b"5.7.1"), address


def test_known_units_accepted_case_insensitively(daemon):
    with daemon.smtp() as client:
        client.ehlo("sender.example")
        client.mail("a@example.org")
        assert client.rcpt("Saraban.LatKrabang@Bangkok.go.th")[0] == 250
        assert client.rcpt("saraban.dindaeng.cd&sw@bangkok.go.th")[0] == 250


def test_size_is_announced_and_enforced(daemon_factory):
    d = daemon_factory(smtp_extra="max_message_size = 100000").start()
    with d.smtp() as client:
        client.ehlo("sender.example")
        assert client.esmtp_features["size"] == "100000"
        client.mail("a@example.org")
        assert client.rcpt("saraban.latkrabang@bangkok.go.th")[0] == 250
        big = letter(files=[("2569_dds_0403_57.pdf", b"%PDF-1.4\n" + b"0" * 150_000)])
        code, text = client.data(big)
    assert code == 552, (code, text)
    assert text.startswith(b"5.3.4") and text.isascii() and b"maximum message size" in text
    assert d.status()["spool"]["pending"] == 0
    assert d.register() == []


def test_250_names_the_queue_id_and_message_is_spooled(daemon):
    queue_id = daemon.send(letter(), "saraban.latkrabang@bangkok.go.th")
    assert len(queue_id) == 24
    entries = daemon.wait_for(lambda: daemon.register(), what="registration")
    assert entries[0]["queue_id"] == queue_id
    # The tests' in-process read of the register is what the command prints.
    assert daemon.register_cli() == daemon.register()


def test_one_message_to_several_units_is_one_spool_entry(daemon):
    targets = ["saraban.latkrabang@bangkok.go.th", "saraban.dindaeng@bangkok.go.th",
               "saraban.dindaeng.admin@bangkok.go.th"]
    queue_id = daemon.send(letter(), targets)
    entries = daemon.wait_for(lambda: len(daemon.register()) == 3 and daemon.register(), what="3 registrations")
    assert {e["queue_id"] for e in entries} == {queue_id}
    assert sorted(e["unit"] for e in entries) == sorted(t.split("@")[0] for t in targets)
    assert all(e["number"] == 1 for e in entries)  # each unit's own register starts at 1


def test_spool_write_failure_answers_451_and_leaves_nothing(daemon):
    spool_new = daemon.data_dir / "spool" / "new"
    spool_new.chmod(0o500)  # the rename into new/ fails, as on a full or read-only disk
    try:
        import os
        if os.geteuid() == 0:
            # root ignores directory permissions; make new/ a file's name clash instead
            spool_new.chmod(0o700)
            import shutil
            shutil.rmtree(spool_new)
            spool_new.write_text("not a directory")
        with daemon.smtp() as client:
            client.ehlo("sender.example")
            client.mail("a@example.org")
            client.rcpt("saraban.latkrabang@bangkok.go.th")
            code, text = client.data(letter())
        assert code == 451 and text.startswith(b"4.3.0"), (code, text)
        assert text.isascii() and b"try again later" in text  # RFC 5321: ASCII without SMTPUTF8
        assert list((daemon.data_dir / "spool" / "tmp").iterdir()) == []
    finally:
        if spool_new.is_file():
            spool_new.unlink()
            spool_new.mkdir()
        spool_new.chmod(0o700)


def test_a_session_offers_the_commands_and_auth_mechanisms_aiosmtpd_would_find_by_itself():
    """SarabanSMTP lists only its commands and AUTH mechanisms for dir() (aiosmtpd reads
    them in every session's __init__): the tables aiosmtpd builds from them are those
    it builds for the same class without that shortcut."""
    import asyncio

    from gateway.intake.smtp_protocol import SarabanSMTP

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: ANN001
            return "250 OK"

    class Listed(SarabanSMTP):
        def __dir__(self):  # the whole list, as object.__dir__ gives it
            return object.__dir__(self)

    async def main():
        ours, whole = SarabanSMTP(Handler(), hostname="x"), Listed(Handler(), hostname="x")
        return [(sorted(s._smtp_methods), sorted(s._auth_methods), sorted(s._handle_hooks)) for s in (ours, whole)]

    ours, whole = asyncio.run(main())
    assert ours == whole
    assert "EHLO" in ours[0] and "DATA" in ours[0] and ours[1] == ["LOGIN", "PLAIN"]


def test_the_gateways_handler_gives_aiosmtpd_the_hooks_it_would_find_by_itself():
    """IntakeHandler lists only its hooks and AUTH mechanisms for dir() and its EHLO
    hook's signature is read once: aiosmtpd's tables for a session are those it builds
    from the whole handler, the hook the drain tracker puts on the instance included."""
    import asyncio
    import inspect

    from gateway.intake.smtp_drain import SessionTracker
    from gateway.intake.smtp_handler import IntakeHandler
    from gateway.intake.smtp_protocol import SarabanSMTP

    class Whole(IntakeHandler):
        def __dir__(self):
            return object.__dir__(self)

    def handler(cls):
        h = cls(None, lambda: None, "bangkok.go.th")
        SessionTracker(h)
        return h

    async def main():
        sessions = [SarabanSMTP(handler(cls), hostname="x") for cls in (IntakeHandler, Whole)]
        return [(s._smtp_methods.keys(), sorted(s._auth_methods), sorted(s._handle_hooks), s._ehlo_hook_ver,
                 s._handle_hooks["DATA"].__qualname__) for s in sessions]

    ours, whole = asyncio.run(main())
    assert ours == whole
    assert ours[2] == ["DATA", "EHLO", "MAIL", "RCPT", "VRFY", "exception"] and ours[3] == "new"
    assert "SessionTracker" in ours[4]  # the instance's own hook, not the class's
    assert len(dir(IntakeHandler(None, lambda: None, "x"))) < 10
    assert str(inspect.signature(IntakeHandler(None, lambda: None, "x").handle_EHLO)).startswith("(server")
