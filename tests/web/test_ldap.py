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
