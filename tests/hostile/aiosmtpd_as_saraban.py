"""pytest plugin: aiosmtpd's own test suite, with SarabanSMTP in place of aiosmtpd's SMTP.

Loaded with `-p tests.hostile.aiosmtpd_as_saraban` before aiosmtpd's test modules are
imported, so `from aiosmtpd.smtp import SMTP` there, and the Controller's factory,
get the gateway's class (tests/hostile/test_aiosmtpd_suite.py)."""
from __future__ import annotations

import aiosmtpd.controller
import aiosmtpd.smtp

from gateway.intake.smtp_protocol import SarabanSMTP

aiosmtpd.smtp.SMTP = SarabanSMTP
aiosmtpd.controller.SMTP = SarabanSMTP
