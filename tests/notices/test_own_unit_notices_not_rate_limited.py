"""A department's circular to many districts gets every district's receive number back
in its folder (red team of 7 Dec 2026, delivery).

With `[notices] own_units = "file"` the acknowledgement to a unit of this gateway is
filed into that unit's own folder, never sent to anybody outside. It still counted
against the backscatter limits (`max_per_sender_per_hour`, default 20, per address, and
`max_per_domain_per_hour`, default 200, per domain, every BMA unit being bangkok.go.th):
a ว circular from saraban.dds to 50 districts had 20 acknowledgements filed and 30
suppressed for good (`rate_limit`), so the department never learnt 30 receive numbers,
and the filed ones used up bangkok.go.th's hourly share of notices sent through the
smarthost. Those limits keep the gateway's official mail from being aimed at a victim;
a notice filed into the gateway's own unit's folder reaches no one else, and only a
letter whose From is verified as that unit's gets one. Now such notices are neither
limited nor counted; notices through the smarthost are limited as before.
docs/notices.md, "Who gets it"."""
from __future__ import annotations

import email
import email.policy

from tests.daemon import Daemon, free_port, write_config
from tests.letters import letter
from tests.notices.conftest import notices_config
from tests.notices.sink import Sink

DDS = "saraban.dds@bangkok.go.th"
DISTRICTS = [f"saraban.{name}@bangkok.go.th" for name in ("phranakhon", "dusit", "nongchok", "bangrak", "bangkhen")]
OUTSIDE = "saraban@dla.go.th"


def _filed_acks(d: Daemon) -> list:
    found = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in d.maildir_files("dds")]
    return [m for m in found if str(m["X-Saraban-Notice"] or "") == "ack"]


def test_a_circular_to_many_districts_gets_every_receive_number_back(tmp_path):
    sink = Sink(free_port()).start()
    extra = notices_config(sink, own_units="file", max_per_sender_per_hour=2, max_per_domain_per_hour=3)
    d = Daemon(write_config(tmp_path / "gw", extra=extra)).start()
    try:
        circular = letter(to=", ".join(DISTRICTS), sender=DDS, subject="ว1 ขอความร่วมมือลอกท่อระบายน้ำ")
        queue_id = d.send(circular, DISTRICTS, sender=DDS)
        d.wait_idle()
        d.wait_for(lambda: len(_filed_acks(d)) >= len(DISTRICTS), timeout=60,
                   what="an acknowledgement from each district")  # before: 2 of 5, the rest suppressed
        acks = _filed_acks(d)
        numbers = {e["unit"]: e["receive_no"] for e in d.register() if e["queue_id"] == queue_id}
        assert sorted(a["From"].addresses[0].addr_spec for a in acks) == sorted(DISTRICTS)
        for ack in acks:
            unit = ack["From"].addresses[0].addr_spec.partition("@")[0]
            assert f"เลขรับ {numbers[unit]}" in str(ack["Subject"])
        assert not [e for e in d.events() if e.get("event") == "notice_suppressed"]

        # Notices through the smarthost are limited as before, and the filed ones did not
        # use up their share: an outside agency's three letters, two acknowledgements.
        for n in range(3):
            d.send(letter(sender=OUTSIDE, subject=f"ว2 ภายนอก {n}"), DISTRICTS[0], sender=OUTSIDE)
        d.wait_idle()
        sink.wait(2, to=OUTSIDE)
        d.wait_for(lambda: [e for e in d.events() if e.get("event") == "notice_suppressed"], timeout=30,
                   what="the third notice suppressed")
        assert [e["reason"] for e in d.events() if e.get("event") == "notice_suppressed"] == ["rate_limit"]
        assert len(sink.messages(to=OUTSIDE)) == 2
    finally:
        d.stop()
        sink.stop()
