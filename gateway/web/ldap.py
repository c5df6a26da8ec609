"""Sign-in against the organisation's directory (Active Directory at BMA offices,
OpenLDAP elsewhere) with ldap3: find the person's entry with the service account (or
anonymously), then bind as that entry with the typed password. The directory answers
"who is this"; the desk's own account of the same name says which role and units."""
from __future__ import annotations

import structlog

from gateway.config.settings import WebLdap

log = structlog.get_logger("gateway.web")


def ldap_bind(settings: WebLdap, username: str, password: str) -> bool:
    from ldap3 import NONE, Connection, Server
    from ldap3.core.exceptions import LDAPException
    from ldap3.utils.conv import escape_filter_chars

    if not password:  # an empty password is an unauthenticated bind, which succeeds (RFC 4513 5.1.2)
        return False
    timeout = max(1, round(settings.timeout))  # ldap3 packs it into a C struct: whole seconds
    server = Server(settings.url, connect_timeout=timeout, get_info=NONE)
    try:
        search = Connection(server, user=settings.bind_dn, password=settings.bind_password,
                            receive_timeout=timeout, raise_exceptions=False)
        if settings.start_tls:
            search.open()
            search.start_tls()
        if not search.bind():
            log.error("web_ldap_unavailable", url=settings.url, problem="service bind refused")
            return False
        query = settings.user_filter.format(username=escape_filter_chars(username))
        search.search(settings.base_dn, query, attributes=[], size_limit=2)
        entries = [e for e in search.response or [] if e.get("type") == "searchResEntry"]
        search.unbind()
        if len(entries) != 1:  # nobody, or an ambiguous filter: refuse rather than guess
            return False
        person = Connection(server, user=entries[0]["dn"], password=password,
                            receive_timeout=timeout, raise_exceptions=False)
        if settings.start_tls:
            person.open()
            person.start_tls()
        ok = bool(person.bind())
        person.unbind()
        return ok
    except LDAPException as exc:
        log.error("web_ldap_unavailable", url=settings.url, problem=type(exc).__name__)
        return False
