"""`verify = false` for an IMAP server on another host is refused, as `tls = false` is
(red team of 7 Dec 2026, delivery).

`[delivery.imap.<name>]` and `[[imap_intake]]` took `verify = false` for any host: the
gateway then accepted any certificate, so whoever answered in the mail server's place (a
poisoned DNS entry, an ARP spoof on the district's LAN) got the account's password at
LOGIN and every letter filed or read, while the configuration looked encrypted. A
sysadmin meeting "the server's TLS certificate is not accepted" is the one likely to
reach for it. `tls = false` has been refused for such a host since session 14; this is
the same hole. Now the configuration is refused (check-config, start-up) with the way out (`ca_file`);
a server on this host may still go without. docs/imap.md."""
from __future__ import annotations

from types import SimpleNamespace

from tests.daemon import Daemon, write_config
from tests.imap_helpers import delivery_config, intake_config

WORDS = "verify = false would accept any certificate from mail.bangkok.go.th"


def test_check_config_refuses_an_unverified_imap_server_on_another_host(tmp_path, dovecot):
    remote = SimpleNamespace(host="mail.bangkok.go.th", ssl_port=993, cert_path=dovecot.cert_path)
    for name, extra in (("delivery", delivery_config(remote, "saraban.latkrabang", "pw").replace(
                            "tls = true", "tls = true\nverify = false")),
                        ("intake", intake_config(remote, "central", "pw", verify=False))):
        d = Daemon(write_config(tmp_path / name, extra=extra))
        result = d.cli("check-config", check=False)
        assert result.returncode == 2, (name, result.stdout, result.stderr)
        assert WORDS in result.stderr and "ca_file" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    # On this host it stays allowed (a test server, a local proxy).
    local = SimpleNamespace(host="127.0.0.1", ssl_port=dovecot.ssl_port, cert_path=dovecot.cert_path)
    ok = Daemon(write_config(tmp_path / "local", extra=intake_config(local, "central", "pw", verify=False)))
    assert "verify = false" not in ok.cli("check-config", check=False).stderr
