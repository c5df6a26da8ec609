"""The delivery runner and one module per backend (Maildir, IMAP, SMTP, registrar)."""
