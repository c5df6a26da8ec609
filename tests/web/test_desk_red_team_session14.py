"""Red team of the desk, session 14, over plain HTTP against the real daemon (SQLite)
and a real OpenLDAP: a person removed from the directory kept the desk, their
session alive for its hours (10 by default), because the directory was asked only at
sign-in; and a site on another host under bangkok.go.th could plant the desk's
cookies for the whole domain (cookie tossing): its own session in a clerk's browser, or
the sign-in's CSRF cookie with the value of a form it posts, signing the clerk in as
someone else."""
from __future__ import annotations

import pytest

from tests.letters import letter, make_pdf
from tests.web.client import Client, signed_in
from tests.web.conftest import PASSWORD, Desk, add_user, running_desk

LAT = "saraban.latkrabang@bangkok.go.th"
SUBJECT = "ขอเชิญประชุมคณะทำงานด้านระบบสารบรรณ ครั้งที่ 14"
# The OpenLDAP is the suite's (session-scoped): names of this module only.
LEAVER, STAYER = "s14leaver", "s14stayer"


@pytest.fixture(scope="module")
def desk(tmp_path_factory, slapd):
    dns = {uid: slapd.add_person(uid, PASSWORD, f"คนที่ {uid}") for uid in (LEAVER, STAYER)}
    # recheck_minutes = 0: the directory is asked at every page (default: every 5 minutes)
    extra = (f'[web.ldap]\nurl = "{slapd.url}"\nbase_dn = "ou=people,dc=bma,dc=test"\n'
             'user_filter = "(uid={username})"\nrecheck_minutes = 0\n')
    letters = ((letter(subject=SUBJECT, files=[("a.pdf", make_pdf("a"))]), LAT),)
    with running_desk(tmp_path_factory.mktemp("desk"), (), letters, extra=extra) as desk:
        for uid in (LEAVER, STAYER):
            add_user(desk.daemon.config, uid, "clerk", "saraban.latkrabang", ldap=True)
        desk.dns = dns
        yield desk


def sessions_of(desk: Desk, username: str) -> int:
    [(count,)] = desk.db("SELECT count(*) FROM desk_sessions s JOIN desk_users u ON u.id = s.user_id "
                         "WHERE u.username = ?", username)
    return count


def test_a_person_removed_from_the_directory_is_signed_out_at_the_next_page(desk, slapd):
    [(letter_id,)] = desk.db("SELECT id FROM letters WHERE subject = ?", SUBJECT)
    leaver, stayer = signed_in(desk.url, LEAVER), signed_in(desk.url, STAYER)
    assert SUBJECT in leaver.get("/register").text
    token = leaver.csrf()

    slapd.delete(desk.dns[LEAVER])  # left the office: the directory administrator removes them

    page = leaver.get(f"/letters/{letter_id}")
    assert page.status == 303 and page.header("location") == "/login"
    assert SUBJECT not in page.text
    note = leaver.request("POST", f"/letters/{letter_id}/note",
                          f"note=ask+finance&csrf={token}".encode(),
                          {"Content-Type": "application/x-www-form-urlencoded"})
    assert note.status == 403 and "ask finance" not in str(desk.db("SELECT text FROM letter_notes"))
    assert sessions_of(desk, LEAVER) == 0
    assert any(e.get("event") == "web_ldap_account_gone" and e.get("username") == LEAVER
               for e in desk.daemon.events())
    assert Client(desk.url).sign_in(LEAVER).status == 401  # and no way back in

    # a colleague still in the directory keeps the desk
    assert SUBJECT in stayer.get("/register").text
    assert SUBJECT in stayer.get(f"/letters/{letter_id}").text


def test_a_directory_that_cannot_be_asked_does_not_sign_everyone_out(desk):
    """The directory down for a moment (a domain controller restarting) is no reason to
    end the sessions of everyone signed in: the look is tried again later."""
    from gateway.config.settings import WebLdap, WebSection, load_settings
    from gateway.units.directory import load_directory
    from gateway.web.auth import Authenticator
    from gateway.web.desk import COOKIE, cookie_name
    from storage.db import Database
    from tests.daemon import free_port

    stayer = signed_in(desk.url, STAYER)
    settings = load_settings(desk.daemon.config)
    down = WebLdap(url=f"ldap://127.0.0.1:{free_port()}", base_dn="ou=people,dc=bma,dc=test",
                   user_filter="(uid={username})", timeout=1, recheck_minutes=0)
    db = Database(settings.database_url)
    try:
        auth = Authenticator(db, WebSection(ldap=down), load_directory(settings.directory_path))
        person = auth.person(stayer.cookies[cookie_name(COOKIE, True)])
        assert person is not None and person.username == STAYER
    finally:
        db.dispose()
    assert sessions_of(desk, STAYER) >= 1 and SUBJECT in stayer.get("/register").text


# What a page on another host under bangkok.go.th can make a clerk's browser send: a
# cookie set with Domain=bangkok.go.th (no __Host- prefix: the browser refuses those).
def planted(client: Client, name: str, value: str) -> None:
    client.cookies[name] = value


def test_a_session_planted_from_another_host_is_not_taken(desk):
    planter = signed_in(desk.url, STAYER)
    [(token,)] = [(v,) for k, v in planter.cookies.items() if k.endswith("saraban_session")]
    clerk = Client(desk.url)
    planted(clerk, "saraban_session", token)
    page = clerk.get("/register")
    assert page.status == 303 and page.header("location") == "/login"
    assert SUBJECT not in page.text and STAYER not in page.text


def test_a_sign_in_posted_from_another_host_with_a_planted_csrf_cookie_is_refused(desk):
    clerk = Client(desk.url)
    planted(clerk, "saraban_login_csrf", "planted-value")
    answer = clerk.post("/login", {"username": STAYER, "password": PASSWORD, "csrf": "planted-value"}, csrf=False)
    assert answer.status == 403 and answer.errors()
    assert not any(k.endswith("saraban_session") for k in clerk.cookies)
    assert clerk.get("/register").status == 303  # not signed in as the planter


def test_the_desks_cookies_are_for_this_host_only(desk):
    client = Client(desk.url)
    shown = client.get("/login")
    signed = client.sign_in(STAYER)
    cookies = [v for a in (shown, signed) for k, v in a.headers if k.lower() == "set-cookie"]
    for name in ("__Host-saraban_login_csrf=", "__Host-saraban_session="):
        [cookie] = [c for c in cookies if c.startswith(name) and "Max-Age=0" not in c]
        assert "Secure" in cookie and "Path=/;" in cookie + ";" and "Domain" not in cookie, cookie
    assert SUBJECT in client.get("/register").text
