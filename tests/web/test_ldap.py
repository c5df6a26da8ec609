"""Sign-in with the directory's password against a real OpenLDAP (slapd started by
the suite): the entry is found by uid, bound with the typed password; the role and
units come from the desk's account of the same name (`users add --ldap`)."""
from __future__ import annotations

import pytest

from gateway.config.settings import WebLdap, WebSection
from gateway.units.directory import load_directory
from gateway.web.auth import Authenticator, SignInRefused
from gateway.web.ldap import ldap_bind
from storage.db import Database
from storage.users import add_user, find_user
from tests.paths import REPO

PASSWORD = "รหัสผ่านในไดเรกทอรี 2569"


@pytest.fixture(scope="module")
def directory_settings(slapd) -> WebLdap:
    slapd.add_person("somying", PASSWORD, "สมหญิง รักงาน")
    return WebLdap(url=slapd.url, base_dn="ou=people,dc=bma,dc=test", user_filter="(uid={username})")


def test_bind_checks_the_password_against_the_directory(directory_settings):
    assert ldap_bind(directory_settings, "somying", PASSWORD)
    assert not ldap_bind(directory_settings, "somying", "wrong password")
    assert not ldap_bind(directory_settings, "somying", "")  # not an unauthenticated bind
    assert not ldap_bind(directory_settings, "nobody", PASSWORD)
    assert not ldap_bind(directory_settings, "*", PASSWORD)  # the filter is escaped
    assert not ldap_bind(directory_settings, "somying)(uid=*", PASSWORD)


def test_the_desk_signs_in_a_directory_account_with_its_local_role(directory_settings, tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'desk.db'}")
    db.create_schema()
    try:
        with db.session() as session:
            add_user(session, "somying", "clerk", ["saraban.latkrabang"], None, source="ldap")
        auth = Authenticator(db, WebSection(ldap=directory_settings),
                             load_directory(REPO / "config" / "units.toml"))
        token = auth.sign_in("SomYing", PASSWORD, "127.0.0.1", "th")
        person = auth.person(token)
        assert (person.username, person.role) == ("somying", "clerk")
        assert person.sees_unit("saraban.latkrabang.fin") and not person.sees_unit("saraban.dindaeng")
        with pytest.raises(SignInRefused):
            auth.sign_in("somying", "wrong password", "127.0.0.1", "th")
        with db.session() as session:
            assert find_user(session, "somying").failed_logins == 1  # counted toward the lock-out
    finally:
        db.dispose()


def test_a_directory_that_is_down_refuses_without_an_error_page(tmp_path):
    from tests.daemon import free_port

    down = WebLdap(url=f"ldap://127.0.0.1:{free_port()}", base_dn="ou=people,dc=bma,dc=test",
                   user_filter="(uid={username})", timeout=2)
    assert not ldap_bind(down, "somying", PASSWORD)


def test_a_password_saslprep_refuses_is_a_wrong_password_not_an_outage(slapd, tmp_path):
    # ldap3 refuses to send a password with a NUL, a tab, a control character or mixed
    # right-to-left text (SASLprep), and the desk took that for a directory outage: 503
    # for directory accounts only (which names exist), the attempt not counted, and a
    # minute of "directory down" for every name and on /healthz.
    import urllib.request

    from tests.daemon import free_port
    from tests.web.client import Client
    from tests.web.conftest import PASSWORD as LOCAL_PASSWORD, add_user as add_desk_user, running_desk

    slapd.add_person("somsri", PASSWORD, "สมศรี ใจดี")
    http_port = free_port()
    extra = (f'trusted_proxies = ["127.0.0.1"]\n[web.ldap]\nurl = "{slapd.url}"\n'
             'base_dn = "ou=people,dc=bma,dc=test"\nuser_filter = "(uid={username})"\n'
             f'[http]\nenabled = true\nport = {http_port}\n')
    with running_desk(tmp_path, (("localclerk", "clerk", "saraban.latkrabang"),), (), extra=extra) as desk:
        add_desk_user(desk.daemon.config, "somsri", "clerk", "saraban.latkrabang", ldap=True)
        refused = []
        for n, password in enumerate(("x\x00yyyyyyyy", "pass\tword", "pass\x07word", "abcשלום123"), 1):
            answer = Client(desk.url, forwarded_for=f"10.35.2.{n}").sign_in("somsri", password)
            refused.append((answer.status, answer.errors()))
        for name in ("nobody-here", "localclerk"):
            answer = Client(desk.url, forwarded_for="10.35.3.1").sign_in(name, "x\x00yyyyyyyy")
            refused.append((answer.status, answer.errors()))
        assert all(status == 401 for status, _ in refused), refused
        assert len({str(errors) for _, errors in refused}) == 1, refused  # one answer for every name
        assert desk.db("SELECT failed_logins FROM desk_users WHERE username = 'somsri'") == [(4,)]
        health = urllib.request.urlopen(f"http://127.0.0.1:{http_port}/healthz", timeout=10).read().decode()
        assert "directory" not in health, health
        assert not [e for e in desk.daemon.events() if e.get("event") in ("web_ldap_unavailable",
                                                                         "web_login_directory_unavailable")]
        assert Client(desk.url, forwarded_for="10.35.4.1").sign_in("somsri", PASSWORD).status == 303
        assert Client(desk.url, forwarded_for="10.35.4.2").sign_in("localclerk", LOCAL_PASSWORD).status == 303
