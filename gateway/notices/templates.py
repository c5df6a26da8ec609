"""The notice templates: Jinja2 files an operator can edit.

Defaults ship in gateway/templates/ (notice_ack.* and notice_reject.*, each with
.subject.j2, .txt.j2 and .html.j2). `[notices] templates_dir` names a directory searched
first, so an operator overrides one file by copying it there, without touching the
package. HTML templates are autoescaped; every value from the incoming mail has
already been cleaned (sanitize.py), so a template cannot be tricked into a header."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import jinja2

from rules.thai_time import thai_digits

PACKAGE_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def _digits_filter(use_thai: bool):
    def digits(value: object) -> str:
        text = "" if value is None else str(value)
        return thai_digits(text) if use_thai else text
    return digits


@lru_cache(maxsize=8)
def environment(templates_dir: str | None, use_thai_digits: bool) -> jinja2.Environment:
    """One environment per (directory, digits) setting; templates are re-read when the
    file changes (jinja2's auto_reload), so edits apply without a restart."""
    search = [str(PACKAGE_TEMPLATES)]
    if templates_dir:
        search.insert(0, templates_dir)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(search, encoding="utf-8"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=True,
    )
    env.filters["digits"] = _digits_filter(use_thai_digits)
    return env


def render(env: jinja2.Environment, notice_type: str, part: str, context: dict) -> str:
    """Render `notice_<type>.<part>.j2` (part: subject, txt or html)."""
    return env.get_template(f"notice_{notice_type}.{part}.j2").render(**context)
