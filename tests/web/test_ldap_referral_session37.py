"""A referral from the desk's directory is not followed (session 37's red team).

ldap3 follows referrals by default, to any host, binding there with the same
credentials: a directory whose `base_dn` lies outside it (an Active Directory forest, a
typo), or anyone on the path of a plain ldap:// connection, had the service account's
password sent in clear to the host the referral named. And the sign-in's deadline cut
only the first connection, so a referred host that trickled its answer held a desk
thread and the person's sign-in page for ever. Now no referral is followed: the
directory is said unavailable (the desk's own accounts still sign in), with a log line
that names the referral (gateway/web/ldap.py)."""
from __future__ import annotations

import socket
import threading
import time

import pytest

import tests.servers.slapd as slapd_module
from gateway.config.settings import WebLdap
from gateway.web.ldap import ldap_bind, ldap_entry_exists

PASSWORD = "pw-directory-12345"
SERVICE_PASSWORD = "svc-secret-PASSWORD"


class Listener:
    """A host a referral may name: takes connections, keeps every byte, answers nothing."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.received = bytearray()
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        try:
            while chunk := conn.recv(4096):
                self.received += chunk
        except OSError:
            pass

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def referring_directory(monkeypatch):
    listener = Listener()
    monkeypatch.setattr(slapd_module, "CONFIG",
                        slapd_module.CONFIG.replace("modulepath", f"referral ldap://127.0.0.1:{listener.port}/\nmodulepath"))
    try:
        server = slapd_module.SlapdServer().start()
    except slapd_module.ServerUnavailable as exc:
        pytest.skip(str(exc))
    try:
        server.add_person("somying", PASSWORD, "สมหญิง รักงาน")
        server.add(f"dn: cn=svc,{slapd_module.SUFFIX}\nobjectClass: person\ncn: svc\nsn: svc\n"
                   f"userPassword: {SERVICE_PASSWORD}\n")
        yield server, listener
    finally:
        server.stop()
        listener.close()


def test_a_referral_is_not_followed_and_no_password_leaves(referring_directory):
    server, listener = referring_directory
    settings = WebLdap(url=server.url, base_dn="ou=people,dc=other,dc=test", user_filter="(uid={username})",
                       timeout=2, bind_dn=f"cn=svc,{slapd_module.SUFFIX}", bind_password=SERVICE_PASSWORD)
    started = time.monotonic()
    assert ldap_bind(settings, "somying", PASSWORD) is None  # the directory could not be asked
    assert ldap_entry_exists(settings, "somying") is None
    assert time.monotonic() - started < 10  # not held by the referred host, which never answers
    time.sleep(0.3)
    assert listener.connections == 0 and SERVICE_PASSWORD.encode() not in listener.received
    # The directory itself still signs people in where its base is its own.
    inside = settings.model_copy(update={"base_dn": "ou=people,dc=bma,dc=test"})
    assert ldap_bind(inside, "somying", PASSWORD) is True
