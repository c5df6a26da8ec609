"""The text of a held e-mail, as `quarantine show` and the desk's entry page show it, is
read at every view: its HTML as a browser shows it, ~0.8 s of CPU a MB of tables and
styles, on the desk in the daemon's own process (the SMTP intake slowed meanwhile). A
30 MB body, under the pipeline's `read_budget`, took ~25 s a view until session 56. The
view now reads it for at most `TEXT_READ_SECONDS` of its thread's CPU; past that the
person reads, in Thai and English, that the text is not shown, never a hang or Python
words (gateway/tools/quarantine.py `_mail_text`)."""
from __future__ import annotations

import json
import logging

from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import structlog

import gateway.tools.quarantine as held
from gateway.cli.main import build_parser
from gateway.web.i18n import WORDS
from tests.letters import make_pdf

LAT = "saraban.latkrabang@bangkok.go.th"
ROW = ('<tr><td style="color:#333;padding:2px" dir="rtl"><span style="font-weight:bold">แถว {n}</span> '
       '<b>ทดสอบ</b></td><td><div style="display:inline">ขอเชิญประชุมคณะกรรมการ</div></td></tr>')


def _html_letter(rows: int) -> bytes:
    msg = MIMEMultipart()
    msg["From"], msg["To"] = "saraban.dds@bangkok.go.th", LAT
    msg["Subject"] = "ขอเชิญประชุม (ตารางยาว)"
    msg["Message-ID"] = f"<held-html-56-{rows}@dds.bangkok.go.th>"
    table = "".join(ROW.format(n=n) for n in range(rows))
    msg.attach(MIMEText(f"<html><body><p>ขอเชิญประชุมคณะกรรมการ</p><table>{table}</table></body></html>",
                        "html", "utf-8"))
    pdf = MIMEApplication(make_pdf("scan"), "pdf")
    pdf.add_header("Content-Disposition", "attachment", filename="scan0001.pdf")  # held: its name
    msg.attach(pdf)
    return msg.as_bytes()


def test_a_body_that_reads_past_its_time_is_not_shown_and_one_that_does_not_is(daemon_factory, monkeypatch, capsys):
    d = daemon_factory(extra='[rules.policy]\nnaming = "reject"\n').start()
    d.send(_html_letter(2000), LAT)  # ~0.4 MB of HTML: ~0.4 s to read
    d.wait_idle()
    [entry] = json.loads(d.cli("quarantine", "list", "--json").stdout)

    def show() -> str:
        # In this process, for the budget set here: the command sets up its logging on
        # capsys's stream, closed after this test; put back, or the worker's next tests
        # log into a closed file (full run B of session 56).
        saved = structlog.get_config(), logging.getLogger().handlers[:], logging.getLogger().level
        args = build_parser().parse_args(["--config", str(d.config), "quarantine", "show", str(entry["id"])])
        try:
            assert args.func(args) == 0
        finally:
            structlog.configure(**saved[0])
            logging.getLogger().handlers[:] = saved[1]
            logging.getLogger().setLevel(saved[2])
        return capsys.readouterr().out

    shown = show()
    assert "ขอเชิญประชุมคณะกรรมการ" in shown and "แถว 1999" not in shown  # cut at TEXT_SHOWN characters
    monkeypatch.setattr(held, "TEXT_READ_SECONDS", 0.01)  # as a body forty times longer would
    unread = show()
    thai, english = WORDS["mail_text_unread"]
    assert thai in unread and english in unread
    assert "ขอเชิญประชุมคณะกรรมการ" not in unread and "Traceback" not in unread
    assert "scan0001.pdf" in unread  # the files and the reasons are still there to decide on
