"""Where a unit's copies go, as configured: its backend (`route_for`) and, for IMAP, the
server, account and folder (`imap_target`). Apart from route.py, which files the copies:
the supervisor asks this at start (numbering.py reads the folders for the receive numbers
already filed) and would otherwise import the copy's builder, the MIME parser and their
libraries (~4 MiB) for nothing."""
from __future__ import annotations

from gateway.delivery.imap import ImapTarget
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.config.delivery import UnitDelivery
    from gateway.config.settings import Settings


def route_for(settings: Settings, unit: str) -> UnitDelivery:
    route = settings.delivery.units.get(unit)
    return route if route is not None else settings.delivery.default_route


def imap_target(settings: Settings, route: UnitDelivery, unit: str, folder: str,
                registrar: bool = False) -> ImapTarget:
    name = route.server or next(iter(settings.delivery.imap))
    server = settings.delivery.imap[name]
    username = route.username or server.username or unit
    password = route.secret() or server.secret() or ""
    if registrar:
        own = route.registrar
        if own is not None and own.username:
            username, password = own.username, own.secret() or ""
        folder_name = (own.folder if own is not None and own.folder else
                       server.registrar_folder.format(folder=folder, unit=unit))
    else:
        folder_name = route.folder or server.folder.format(folder=folder, unit=unit)
    return ImapTarget(
        host=server.host, port=server.port, tls=server.tls,
        ca_file=str(server.ca_file) if server.ca_file else None, verify=server.verify,
        timeout=server.timeout, username=username, password=password,
        folder=folder_name, keyword=server.keyword,
    )
