"""The one exception the secrecy core raises; callers quarantine and alert on it."""
from __future__ import annotations


class SecrecyError(Exception):
    """A classified letter cannot be protected or opened safely; do not go on."""


class TamperedError(SecrecyError):
    """Stored ciphertext, a signature or the audit trail does not check out."""
