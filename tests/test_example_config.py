"""config/gateway.example.toml shows every key of the settings model with its default
(issue 14, item 12), as the README promises: a key added to gateway/config/settings.py
without a line in the example fails here."""
from __future__ import annotations

import re
import tomllib

from pydantic import BaseModel

from gateway.config.settings import Settings
from rules.model import RuleSettings
from tests.paths import REPO

EXAMPLE = REPO / "config" / "gateway.example.toml"
# Tables of named things (servers, mailboxes, units) have no default entry; the example
# shows each commented out as a template.
TEMPLATES = {("delivery", "imap"), ("delivery", "smtp"), ("delivery", "units")}


def shown_keys() -> tuple[dict, dict[str, set[str]]]:
    """The active values, and per section the keys shown commented out (`# key = ...`)."""
    text = EXAMPLE.read_text(encoding="utf-8")
    active = tomllib.loads(text)
    commented: dict[str, set[str]] = {}
    section = ""
    for line in text.splitlines():
        header = re.match(r"^#?\s*\[+([\w.\"-]+)\]+", line)
        if header:
            section = header[1]
            top, _, rest = section.partition(".")
            if rest:  # a sub-table [a.b] or a template "# [a.b.name]" shows key b of a
                commented.setdefault(top, set()).add(rest.split(".")[0])
            continue
        key = re.match(r"^#\s*(\w+)\s*=", line)
        if key:
            commented.setdefault(section, set()).add(key[1])
    return active, commented


def sections() -> list[tuple[str, type[BaseModel]]]:
    out = []
    for name, field in Settings.model_fields.items():
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            out.append((field.alias or name, field.annotation))
    return out


def test_every_key_of_the_settings_model_is_in_the_example():
    active, commented = shown_keys()
    missing = []
    for section, model in sections():
        for key in model.model_fields:
            if key not in active.get(section, {}) and key not in commented.get(section, set()):
                missing.append(f"{section}.{key}")
    assert missing == []


def test_every_value_in_the_example_is_the_default():
    active, _ = shown_keys()
    differ = []
    for section, model in sections():
        default = model()
        for key, value in active.get(section, {}).items():
            if (section, key) in TEMPLATES or key not in model.model_fields:
                continue
            if getattr(model(**{key: value}), key) != getattr(default, key):
                differ.append(f"{section}.{key} = {value!r}")
    assert differ == []


def test_the_filename_pattern_shown_is_the_rule_default():
    line = next(l for l in EXAMPLE.read_text(encoding="utf-8").splitlines() if "filename_pattern =" in l)
    shown = tomllib.loads(line.lstrip("# "))["filename_pattern"]
    assert shown == RuleSettings().filename_pattern


def test_the_example_loads_and_names_no_key_the_model_lacks():
    from gateway.config.settings import load_settings

    assert load_settings(EXAMPLE).smtp.max_recipients == 100
