"""saraban-gateway: receives, checks, registers and files official letters by e-mail."""

__version__ = "0.1.0"
