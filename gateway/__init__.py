"""saraban-gateway: receives, checks, registers and files official letters by e-mail."""

from gateway import email_fixes  # noqa: F401 - before any mail is parsed, in every process

__version__ = "0.1.0"
