"""What an outbox handler may raise to say more than "try again later"."""
from __future__ import annotations

from gateway.secrecy.errors import SecrecyError


class PermanentFailure(Exception):
    """Retrying cannot help (e.g. 550 no such user): the item is dead at once instead
    of being retried with backoff until `delivery.dead_after`."""


class RegistrarCopyWaits(SecrecyError):
    """A ลับ/ลับมาก letter's sealed copy cannot be made yet: its unit has no usable secret
    registrar certificate, or the gateway has no key. Retried with backoff (the letter
    stays sealed and held); its own class so that `outbox list` and the desk say what it
    waits for, where until session 44 they told it by the words of its message."""
