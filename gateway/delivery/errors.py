"""What an outbox handler may raise to say more than "try again later"."""
from __future__ import annotations


class PermanentFailure(Exception):
    """Retrying cannot help (e.g. 550 no such user): the item is dead at once instead
    of being retried with backoff until `delivery.dead_after`."""
