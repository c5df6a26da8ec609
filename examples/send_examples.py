#!/usr/bin/env python3
"""Send examples/*.eml to a running gateway (default 127.0.0.1:2525), as an agency's
mail server would: envelope sender from From:, recipients from To: and Cc:."""
from __future__ import annotations

import argparse
import email
import email.policy
import email.utils
import smtplib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("files", nargs="*", type=Path, help="default: examples/*.eml")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2525)
    args = parser.parse_args()
    files = args.files or sorted(HERE.glob("*.eml"))
    for path in files:
        raw = path.read_bytes()
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        sender = email.utils.parseaddr(str(msg["From"]))[1]
        rcpts = [a for _, a in email.utils.getaddresses([str(msg.get("To", "")), str(msg.get("Cc", ""))]) if a]
        with smtplib.SMTP(args.host, args.port, timeout=30) as client:
            client.ehlo("examples.localdomain")
            client.mail(sender)
            accepted = []
            for rcpt in rcpts:
                code, text = client.rcpt(rcpt)
                if code == 250:
                    accepted.append(rcpt)
                else:
                    print(f"{path.name}: {rcpt}: {code} {text.decode()}")
            if not accepted:
                client.rset()
                continue
            code, text = client.data(raw)
            print(f"{path.name}: {code} {text.decode()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
