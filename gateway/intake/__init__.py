"""SMTP and IMAP intake: the protocol, the handler hooks, refusals."""
