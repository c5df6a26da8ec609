"""saraban-gateway: receives, checks, registers and files official letters by e-mail."""

import os

# PyThaiNLP (Thai word breaking and normalising, rules/thai_text.py) makes its data folder,
# ~/pythainlp-data, when it is imported, and the gateway uses only the word lists inside
# the package. For a user whose home cannot be written (HOME=/nonexistent: `nobody`, a
# system account made by useradd -r, a container) that import raised PermissionError in
# the pipeline, and every letter with Thai text was parked after [pipeline] max_attempts
# tries (session 56). Read-only, it makes and downloads nothing. Set before any import
# of it, in every process (the children import this package first); an operator's own
# value is kept.
os.environ.setdefault("PYTHAINLP_READ_ONLY", "1")

from gateway import email_fixes  # noqa: E402,F401 - before any mail is parsed, in every process

__version__ = "0.1.0"
