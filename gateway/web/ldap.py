"""Sign-in against the organisation's directory (Active Directory at BMA offices,
OpenLDAP elsewhere) with ldap3: find the person's entry with the service account (or
anonymously), then bind as that entry with the typed password. The directory answers
"who is this"; the desk's own account of the same name says which role and units.
While signed in, the entry is looked up again (`ldap_entry_exists`): a person removed
from the directory, or no longer matched by `user_filter` (Active Directory's disabled
accounts when the filter excludes them), is signed out at the next look."""
from __future__ import annotations

import structlog

from gateway.config.settings import WebLdap
from gateway.service.deadline import Deadline, DeadlinePassed

log = structlog.get_logger("gateway.web")


def _server(settings: WebLdap):
    from ldap3 import NONE, Server

    timeout = max(1, round(settings.timeout))  # ldap3 packs it into a C struct: whole seconds
    return Server(settings.url, connect_timeout=timeout, get_info=NONE, tls=_tls(settings)), timeout


def _tls(settings: WebLdap):
    """The directory's certificate checked, chain and name, for ldaps:// and start_tls.
    ldap3's default checks nothing (CERT_NONE): anyone on the path who answered the TLS
    handshake got the service account's password and every typed one (session 38)."""
    import ssl
    from urllib.parse import urlsplit

    from ldap3 import Tls

    host = urlsplit(settings.url).hostname
    return Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(settings.ca_file) if settings.ca_file else None,
               sni=host)


def _connection(server, timeout: int, settings: WebLdap, user: str | None, password: str | None,
                opened: list):
    from ldap3 import Connection

    # No referral is followed (ldap3 follows them by default, to any host, binding there
    # with these same credentials: a directory whose base_dn lies outside it, or anyone
    # on the path of a plain ldap:// connection, had the service account's password sent
    # in clear to a host of its choosing; and the deadline cut only our own connection,
    # not the referral's, so a trickling host held a sign-in for ever: session 37).
    connection = Connection(server, user=user, password=password, receive_timeout=timeout,
                            raise_exceptions=False, auto_referrals=False)
    opened.append(connection)
    if settings.start_tls:
        connection.open()
        connection.start_tls()
    return connection


def _deadline(settings: WebLdap, opened: list) -> Deadline:
    """ldap3's receive_timeout restarts with each byte: a directory trickling its answer
    kept the person in front of a spinning sign-in page for ever (session 17). The
    whole look-up, every connection of it, gets `timeout` seconds."""
    return Deadline(settings.timeout, lambda: opened[-1].socket if opened else None,
                    f"the directory {settings.url}")


def _entries(settings: WebLdap, server, timeout: int, username: str, opened: list) -> list[dict] | None:
    """The entries `user_filter` finds for this name with the service account; None
    when the directory did not let the service account search."""
    from ldap3.utils.conv import escape_filter_chars

    search = _connection(server, timeout, settings, settings.bind_dn, settings.bind_password, opened)
    if not search.bind():
        log.error("web_ldap_unavailable", url=settings.url, problem="service bind refused")
        return None
    query = settings.user_filter.format(username=escape_filter_chars(username))
    found = search.search(settings.base_dn, query, attributes=[], size_limit=2)
    entries = [e for e in search.response or [] if e.get("type") == "searchResEntry"]
    result = (search.result or {}).get("result")
    search.unbind()
    # 32 noSuchObject and 4 sizeLimitExceeded (an ambiguous filter) are answers too
    if result == 10 or any(e.get("type") == "searchResRef" for e in search.response or []):
        log.error("web_ldap_unavailable", url=settings.url,
                  problem="the directory answered with a referral to another server (not followed): "
                          "is base_dn inside this directory?")
        return None
    if not found and result not in (0, 4, 32):
        log.error("web_ldap_unavailable", url=settings.url, problem=f"search result {result}")
        return None
    return entries


def ldap_bind(settings: WebLdap, username: str, password: str) -> bool | None:
    """True: the directory accepts this password for this person; False: it does not
    (or no such person, or it refused the bind for another reason: the password may
    have been looked at); None: the directory could not be asked (down, not answering
    within `timeout`, the service account refused)."""
    from ldap3.core.exceptions import LDAPException, LDAPSASLPrepError

    if not password:  # an empty password is an unauthenticated bind, which succeeds (RFC 4513 5.1.2)
        return False
    server, timeout = _server(settings)
    opened: list = []
    try:
        with _deadline(settings, opened):
            entries = _entries(settings, server, timeout, username, opened)
            if entries is None:
                return None
            if len(entries) != 1:  # nobody, or an ambiguous filter: refuse rather than guess
                return False
            person = _connection(server, timeout, settings, entries[0]["dn"], password, opened)
            try:
                ok = bool(person.bind())
            except LDAPSASLPrepError:
                # ldap3 refuses, before sending it, a password SASLprep (RFC 4013) forbids
                # (NUL, tab, a control character, mixed right-to-left text): no directory
                # password is one, so it is a wrong password. Taken for an outage, it
                # answered 503 only for directory accounts (which names exist), was not
                # counted, and opened the desk's "directory down" window for everyone.
                ok = False
            person.unbind()
    except (LDAPException, DeadlinePassed) as exc:
        log.error("web_ldap_unavailable", url=settings.url, problem=_problem(exc))
        return None
    return ok


def ldap_entry_exists(settings: WebLdap, username: str) -> bool | None:
    """Whether the directory still has exactly one entry for this name; None when it
    could not be asked (down, or the service account refused)."""
    from ldap3.core.exceptions import LDAPException

    server, timeout = _server(settings)
    opened: list = []
    try:
        with _deadline(settings, opened):
            entries = _entries(settings, server, timeout, username, opened)
    except (LDAPException, DeadlinePassed) as exc:
        log.error("web_ldap_unavailable", url=settings.url, problem=_problem(exc))
        return None
    return None if entries is None else len(entries) == 1


def _problem(exc: Exception) -> str:
    return str(exc) if isinstance(exc, DeadlinePassed) else type(exc).__name__
