"""SarabanSMTP reads plain MAIL/RCPT paths without aiosmtpd's RFC 5322 parser (it costs a
tenth of intake's CPU per letter): for every argument, odd or not, the answer must be
exactly what aiosmtpd's own `_getaddr` gives."""
from __future__ import annotations

import asyncio
import itertools
import random

from aiosmtpd.smtp import SMTP

from gateway.intake.smtp_protocol import SarabanSMTP

LOCALS = ["saraban.dds", "a", "A.B-c_d+e", "x!#$%&'*+/=?^_`{|}~-y", "a..b", ".a", "a.", '"a b"', '"a\\"b"',
          "ผู้ใช้", "a b", "a(c)", "a\\b", "", "a" * 70, "a@b", "a,b", "a;b", "a[b]", "é"]
DOMAINS = ["bangkok.go.th", "b", "[127.0.0.1]", "[IPv6:::1]", "xn--o3cw4h.th", "กรุงเทพ.th", "a..b", ".b",
           "b.", "b_c.d", "b-c", "b c", "b(c)", ""]
FORMS = ["<{a}>", "{a}", " <{a}>", "<{a}> ", "<{a}> SIZE=100", "<{a}>  SIZE=100 BODY=8BITMIME", "<{a}>SIZE=1",
         "<{a}> (comment) SIZE=1", "<{a}> SIZE=(1)", "<{a}>\tSIZE=1", "<{a}> \"x\"", "<{a}> <b@c>", "<{a}",
         "{a}>", "<<{a}>>", "<@relay.example:{a}>", "<{a}> ;", "<{a}>\x00", "<{a}> SMTPUTF8"]


def _arguments():
    for local, domain, form in itertools.product(LOCALS, DOMAINS, FORMS):
        yield form.format(a=f"{local}@{domain}" if domain or local else "")
    yield from ["", "<>", " ", "<> SIZE=1", "@", "<@>"]
    rng = random.Random(16)
    alphabet = "ab.@<> ()\"\\\t:;,[]-_+=é"
    for _ in range(1500):
        yield "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 24)))


def _outcome(getaddr, arg):
    try:
        return getaddr(arg)
    except Exception:  # noqa: BLE001 - aiosmtpd's parser raises on some inputs ("a@", "<"):
        # ours takes them for a malformed address (553, session 35), as aiosmtpd takes
        # the ones it catches, not for a session exception (451, retried for days).
        return None, None


def test_plain_paths_read_exactly_as_aiosmtpd_reads_them():
    async def main():
        stock, ours = SMTP(object()), SarabanSMTP(object())
        for limit in (0, 64):
            stock.local_part_limit = ours.local_part_limit = limit
            for arg in _arguments():
                expected = _outcome(lambda a: SMTP._getaddr(stock, a), arg)
                assert _outcome(ours._getaddr, arg) == expected, (arg, limit)

    asyncio.run(main())


def test_the_fast_path_is_taken_for_what_mail_clients_send():
    from gateway.intake.smtp_protocol import _PLAIN_PATH

    for arg in ["<saraban.dds@bangkok.go.th>", "<saraban.dds@bangkok.go.th> SIZE=204800 BODY=8BITMIME"]:
        assert _PLAIN_PATH.fullmatch(arg), arg
