"""Session 38: the desk's directory connections checked no certificate. ldap3's
default `Tls()` is CERT_NONE, so for ldaps:// and StartTLS anyone on the path who
answered the handshake got the service account's password and every typed one. Now
the certificate's chain (against `[web.ldap] ca_file`, else the system's trust store)
and its name are checked, and plain ldap:// is refused for a directory on another
machine. Against a real OpenLDAP slapd serving a test certificate."""
from __future__ import annotations

import pydantic
import pytest

from gateway.config.settings import WebLdap
from gateway.web.ldap import ldap_bind, ldap_entry_exists
from tests.servers.fixtures import _start
from tests.servers.slapd import SlapdServer
from tests.servers.tls import write_self_signed

PASSWORD = "รหัสผ่านผ่าน TLS 2569"
BASE = "ou=people,dc=bma,dc=test"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    served = tmp_path_factory.mktemp("served")
    other = tmp_path_factory.mktemp("other")
    return write_self_signed(served, "localhost"), write_self_signed(other, "localhost")


@pytest.fixture(scope="module")
def slapd_tls(pki):
    (cert, key), _ = pki
    server = _start(lambda: SlapdServer(tls=(cert, key)), "OpenLDAP slapd with TLS")
    server.add_person("tlsuser", PASSWORD, "ทดสอบ ทีแอลเอส")
    yield server
    server.stop()


def _settings(url: str, **more) -> WebLdap:
    return WebLdap(url=url, base_dn=BASE, user_filter="(uid={username})", timeout=5, **more)


def test_ldaps_signs_in_when_the_certificate_is_trusted_and_not_otherwise(slapd_tls, pki, capsys):
    (cert, _key), (other_cert, _) = pki
    assert ldap_bind(_settings(slapd_tls.ldaps_url(), ca_file=cert), "tlsuser", PASSWORD) is True
    assert ldap_bind(_settings(slapd_tls.ldaps_url(), ca_file=cert), "tlsuser", "wrong") is False
    # Not signed by a CA it trusts (the system's store; another test CA): never bound,
    # the directory said unavailable (the desk's 503, no password sent).
    assert ldap_bind(_settings(slapd_tls.ldaps_url()), "tlsuser", PASSWORD) is None
    assert ldap_bind(_settings(slapd_tls.ldaps_url(), ca_file=other_cert), "tlsuser", PASSWORD) is None
    assert ldap_entry_exists(_settings(slapd_tls.ldaps_url(), ca_file=other_cert), "tlsuser") is None


def test_ldaps_refuses_a_trusted_certificate_for_another_name(slapd_tls, pki):
    (cert, _key), _ = pki
    # The same server, reached as 127.0.0.2: its certificate names localhost and 127.0.0.1.
    assert ldap_bind(_settings(slapd_tls.ldaps_url("127.0.0.2"), ca_file=cert), "tlsuser", PASSWORD) is None


def test_start_tls_checks_the_certificate_too(slapd_tls, pki):
    (cert, _key), (other_cert, _) = pki
    assert ldap_bind(_settings(slapd_tls.url, start_tls=True, ca_file=cert), "tlsuser", PASSWORD) is True
    assert ldap_bind(_settings(slapd_tls.url, start_tls=True, ca_file=other_cert), "tlsuser", PASSWORD) is None


def test_plain_ldap_to_another_machine_is_refused_by_the_configuration():
    with pytest.raises(pydantic.ValidationError, match="every password in clear"):
        _settings("ldap://dc1.bma.local")
    with pytest.raises(pydantic.ValidationError, match="url must be"):
        _settings("http://dc1.bma.local")
    assert _settings("ldap://dc1.bma.local", start_tls=True).start_tls
    assert _settings("ldaps://dc1.bma.local").url == "ldaps://dc1.bma.local"
    assert _settings("ldap://127.0.0.1:3890").url  # a directory on this machine (the tests' slapd)
