"""The clerk's command line on a first day (session 13): `register list --year 2026`
(the common-era year a clerk's calendar shows) listed nothing and said "0 letter(s)",
so the register looked empty; export already refused such a year in words."""
from __future__ import annotations

from tests.letters import letter, make_pdf
from tests.tools_helpers import this_be_year

LAT = "saraban.latkrabang@bangkok.go.th"


def test_a_common_era_year_is_refused_not_listed_as_an_empty_register(daemon):
    daemon.send(letter(subject="ขอเชิญประชุม", files=[("a.pdf", make_pdf("a"))]), LAT)
    daemon.wait_idle(120)
    year = this_be_year()
    for wrong in (str(year - 543), "1"):
        listed = daemon.cli("register", "list", "--year", wrong, check=False)
        assert listed.returncode == 1, listed.stdout
        assert f"{wrong} is not a Buddhist-era year (e.g. {year}" in listed.stderr
        assert "ปี พ.ศ." in listed.stderr and "Traceback" not in listed.stderr
        assert "0 letter(s)" not in listed.stdout
    thai = daemon.cli("register", "list", "--year", "๒๕๖๙" if year == 2569 else str(year))
    assert thai.returncode == 0 and "ขอเชิญประชุม" in thai.stdout and "1 letter(s)" in thai.stdout
