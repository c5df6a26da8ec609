"""README.md and docs/*.md are followed literally by new sysadmins and clerks: every
`saraban-gateway` command they show parses with the real command line, every
configuration key they show is accepted by the loader, every link and repository path
they name exists, every default a key table shows is the default, and the shipped
configuration files and README's example letters are usable as shown. No daemon, no
process per command: the parser and the settings model are imported, and the commands'
answers to a sysadmin's usual mistakes (session 18's walk through the docs) come from one
process that runs them all (a few seconds in all)."""
from __future__ import annotations

import contextlib
import io
import re
import tomllib
import unicodedata
from pathlib import Path

import pytest
from pydantic import BaseModel

from gateway.cli.main import build_parser
from gateway.config.settings import Settings, load_settings
from tests.paths import REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE_OPEN = re.compile(r"^\s*(?:>\s*)?```(\w*)\s*$")
FENCE_CLOSE = re.compile(r"^\s*(?:>\s*)?```\s*$")


def rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def fences(path: Path) -> list[tuple[int, str, list[str]]]:
    """(first line number, language, lines) of each fenced block, indented and quoted
    ones included."""
    lines = path.read_text(encoding="utf-8").splitlines()
    out, i = [], 0
    while i < len(lines):
        opened = FENCE_OPEN.match(lines[i])
        if opened:
            j = i + 1
            while j < len(lines) and not FENCE_CLOSE.match(lines[j]):
                j += 1
            body = [re.sub(r"^\s*>\s?", "", line) if lines[i].lstrip().startswith(">") else line
                    for line in lines[i + 1:j]]
            out.append((i + 2, opened[1], body))
            i = j
        i += 1
    return out


def prose(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of the lines outside fenced blocks."""
    inside, out = False, []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if FENCE_OPEN.match(line) or (inside and FENCE_CLOSE.match(line)):
            inside = not inside
            continue
        if not inside:
            out.append((number, line))
    return out


# ---------------------------------------------------------------- commands

_PARSER = build_parser()


def _subcommands(parser) -> dict[str, object]:  # noqa: ANN001 - argparse internals
    for action in parser._actions:  # noqa: SLF001
        if action.__class__.__name__ == "_SubParsersAction":
            return dict(action.choices)
    return {}


# Groups whose first word after them is a subcommand (`keys list`, `outbox retry`): an
# inline `outbox retry --dead` in prose is a command too.
GROUPS = {name: set(_subcommands(p)) for name, p in _subcommands(_PARSER).items() if _subcommands(p)}


def documented_commands() -> list[tuple[str, str, bool]]:
    """(where, usage, whole) of every saraban-gateway command the docs show; whole: a
    command line to run (a fenced block), not a command named in a sentence."""
    found = []
    for path in DOCS:
        for start, _lang, body in fences(path):
            text = "\n".join(body).replace("\\\n", " ")
            for offset, line in enumerate(text.splitlines()):
                line = re.sub(r"\s#.*$", "", line)  # shell comment
                command = re.search(r"(?:^\s*(?:\$\s+)?|/bin/)saraban-gateway(\s.*)?$", line)
                if command:
                    usage = re.split(r"\s(?:\||&&|;|2?>)\s", command[1] or "")[0]
                    found.append((f"{rel(path)}:{start + offset}", usage, True))
        for number, line in prose(path):
            for code in re.findall(r"`([^`]+)`", line):
                code = code.replace("\\|", "|")
                words = code.split()
                if words and words[0] == "saraban-gateway":
                    found.append((f"{rel(path)}:{number}", code[len("saraban-gateway"):], False))
                elif len(words) > 1 and words[0] in GROUPS and words[1] in GROUPS[words[0]]:
                    found.append((f"{rel(path)}:{number}", code, False))
    return found


def _tokens(usage: str) -> list[str]:
    """Words, quoted strings as one word, and the usage syntax's `[`, `]` and a `|`
    standing alone (between alternatives of a group; `a|b` is one word)."""
    usage = re.sub(r"\$\([^)]*\)", "X", usage)
    return re.findall(r"\"[^\"]*\"|'[^']*'|\[|\]|(?<=\s)\|(?=\s)|[^\s\[\]]+", usage)


def _expand(tokens: list[str]) -> list[list[str]]:
    """Every argument list a usage line allows: each optional group in or out, each
    alternative of `a|b` and of `[x | y]`, placeholders (ID, UNIT, FILE...) as 1."""

    def sequence(pos: int) -> tuple[list[list[str]], int]:
        branches, current = [], [[]]
        while pos < len(tokens) and tokens[pos] != "]":
            token = tokens[pos]
            if token == "|":
                branches.extend(current)
                current = [[]]
                pos += 1
                continue
            if token == "[":
                inner, pos = sequence(pos + 1)
                choices = [[]] + inner
                pos += 1  # the "]"
            else:
                choices = [[_value(word)] for word in token.split("|")] if not token.startswith(("'", '"')) \
                    else [[token[1:-1]]]
                pos += 1
            current = [done + choice for done in current for choice in choices][:256]
        branches.extend(current)
        return branches, pos

    return sequence(0)[0]


def _value(word: str) -> str:
    if word == "..." or re.fullmatch(r"<[^>]+>|[A-Z][A-Z0-9_/.]*|[A-Z][A-Z0-9_]*(\.\.\.)?", word):
        return "1"  # a placeholder; 1 is accepted both as a number and as a name
    return word


def _parses(argv: list[str]) -> str | None:
    errors = io.StringIO()
    try:
        with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
            _PARSER.parse_args(argv)
    except SystemExit as exc:
        if exc.code:
            return errors.getvalue().strip().splitlines()[-1]
    return None


def test_the_docs_show_commands():
    assert len(documented_commands()) > 80


def test_every_documented_command_parses():
    wrong = []
    for where, usage, whole in documented_commands():
        for argv in _expand(_tokens(usage)):
            if not any(word in _subcommands(_PARSER) for word in argv):
                continue  # `saraban-gateway --config FILE ...`: a command elided
            error = _parses(argv)
            if error and "invalid choice: '1'" in error:
                continue  # a placeholder (`--state S`) for one of the choices
            if error and not whole and re.search(r"arguments are required|expected one argument", error):
                continue  # a sentence naming a command or an option, not a whole command line
            if error:
                wrong.append(f"{where}: saraban-gateway {' '.join(argv)}: {error}")
                break
    assert not wrong, "\n" + "\n".join(wrong)


# ---------------------------------------------------------------- configuration

def _model_sections() -> dict[str, type[BaseModel]]:
    out = {}
    for name, field in Settings.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            out[field.alias or name] = annotation
    return out


def documented_toml() -> list[tuple[str, str]]:
    """(where, text) of every fenced TOML block of the gateway's configuration."""
    out = []
    for path in DOCS:
        for start, lang, body in fences(path):
            if lang == "toml":
                out.append((f"{rel(path)}:{start}", "\n".join(line.strip() for line in body)))
    return out


def test_every_documented_toml_block_is_accepted():
    wrong = []
    for where, text in documented_toml():
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            wrong.append(f"{where}: not TOML: {exc}")
            continue
        try:
            Settings.model_validate(raw)
        except Exception as exc:  # noqa: BLE001 - the message is the finding
            wrong.append(f"{where}: {exc}")
    assert not wrong, "\n" + "\n".join(wrong)


def _commented_keys_of(text: str) -> list[tuple[str, str]]:
    """`# key = value` lines of a TOML block, with the section they are under."""
    section, out = "", []
    for line in text.splitlines():
        header = re.match(r"^\s*\[+([\w.\"-]+)\]+", line)
        if header:
            section = header[1]
        key = re.match(r"^\s*#\s*(\w+)\s*=", line)
        if key and section:
            out.append((section, key[1]))
    return out


def test_keys_shown_commented_out_in_documented_toml_exist():
    sections = _model_sections()
    wrong = []
    for where, text in documented_toml():
        for section, key in _commented_keys_of(text):
            model = _section_model(sections, section)
            if model is not None and key not in model.model_fields:
                wrong.append(f"{where}: [{section}] {key}")
    assert not wrong, "\n" + "\n".join(wrong)


def _model_in(annotation) -> tuple[type[BaseModel] | None, bool]:  # noqa: ANN001 - a type hint
    """The model a field holds, and whether it holds it by name (a table of tables,
    `[delivery.imap.<name>]`) or in a list (`[[imap_intake]]`)."""
    import typing

    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    if typing.get_origin(annotation) in (dict, list) and args:
        model, _ = _model_in(args[-1])
        return model, typing.get_origin(annotation) is dict
    if len(args) == 1:  # Optional[Model]
        return _model_in(args[0])
    return None, False


def _section_model(sections: dict[str, type[BaseModel]], dotted: str) -> type[BaseModel] | None:
    parts = re.findall(r'"[^"]*"|[^.]+', dotted)
    model = sections.get(parts[0])
    if parts[0] == "imap_intake":
        model = _model_in(Settings.model_fields["imap_intake"].annotation)[0]
    named = False
    for part in parts[1:]:
        if model is None:
            return None
        if named:  # the name of one table of a table of tables
            named = False
            continue
        if part not in model.model_fields:
            return None
        model, named = _model_in(model.model_fields[part].annotation)
    return None if named else model


def documented_keys() -> list[tuple[str, str, str]]:
    """(where, section, key) of every `[section] key` the prose names."""
    out = []
    for path in DOCS:
        for number, line in prose(path):
            for section, keys in re.findall(r"`\[\[?([a-z_.<>\"]+)\]\]? ([a-z_]+(?: *[=/,] *[a-z_]+)*)", line):
                for key in re.findall(r"[a-z_]+", keys.split("=")[0]):
                    out.append((f"{rel(path)}:{number}", section, key))
    return out


def test_every_section_and_key_named_in_the_docs_exists():
    sections = _model_sections()
    wrong = []
    for where, section, key in documented_keys():
        if section == "unit.settings":
            continue  # units.toml's, not the gateway configuration's
        if section.split(".")[0] not in sections and section != "imap_intake":
            wrong.append(f"{where}: [{section}] is no section of the configuration")
            continue
        model = _section_model(sections, section)
        if model is None:
            wrong.append(f"{where}: [{section}] is no table of the configuration")
        elif key not in model.model_fields:
            wrong.append(f"{where}: [{section}] {key} is no key of the configuration")
    assert len(documented_keys()) > 50
    assert not wrong, "\n" + "\n".join(wrong)


def test_every_shipped_configuration_file_loads():
    """config/*.toml: the gateway's configuration (load_settings) or a unit directory
    (load_directory), as `make run` and docs/install.md use them."""
    from gateway.units.directory import load_directory

    files = sorted((REPO / "config").glob("*.toml"))
    assert len(files) >= 2
    for path in files:
        if "unit" in tomllib.loads(path.read_text(encoding="utf-8")):
            assert len(load_directory(path)) > 50
        else:
            settings = load_settings(path, environ={})
            assert settings.directory_path.exists(), path


# ---------------------------------------------------------------- links and paths

def _anchors(path: Path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings."""
    out = set()
    for _number, line in prose(path):
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading[1]).lower()
            slug = "".join(c for c in text if c in " -" or unicodedata.category(c)[0] in "LNM")
            out.add(slug.replace(" ", "-"))
    return out


def test_every_relative_link_resolves():
    wrong = []
    for path in DOCS:
        for number, line in prose(path):
            for target in re.findall(r"\]\(([^)\s]+)\)", line):
                if re.match(r"[a-z]+:", target):
                    continue
                file, _, anchor = target.partition("#")
                linked = (path.parent / file).resolve() if file else path
                if not linked.exists():
                    wrong.append(f"{rel(path)}:{number}: {target} (no such file)")
                elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
                    wrong.append(f"{rel(path)}:{number}: {target} (no such heading)")
    assert not wrong, "\n" + "\n".join(wrong)


REPO_PATH = re.compile(
    r"(?<![\w./-])((?:gateway|storage|rules|tests|docs|config|examples|systemd|bench)/[\w./-]*\w)")


def test_every_repository_path_named_exists():
    wrong = []
    for path in DOCS:
        for number, line in prose(path):
            for named in REPO_PATH.findall(line):
                if any(c in named for c in "*{<") or "000N" in named or named == "gateway/peer":
                    continue
                if not (REPO / named).exists() and not (REPO / named).with_suffix(".py").exists():
                    wrong.append(f"{rel(path)}:{number}: {named}")
    assert not wrong, "\n" + "\n".join(wrong)


# ---------------------------------------------------------------- README's "try it"

def test_the_examples_name_their_sender_so_the_sender_check_can_read_it():
    """`make run` checks senders ([sender] enabled, as config/gateway.example.toml
    shows): each example's From must be one mailbox DMARC can judge. Before, the address
    was inside the encoded display name, every example was held in quarantine ("the From
    header is not exactly one readable sender address") and README's `register list`
    and `ls var/folders/latkrabang/new/` showed nothing."""
    import email

    from gateway.sender.dmarc import author

    assert load_settings(REPO / "config" / "gateway.example.toml", environ={}).sender.enabled
    examples = sorted((REPO / "examples").glob("*.eml"))
    assert len(examples) == 4
    for path in examples:
        raw = path.read_bytes()
        sender = email.message_from_bytes(raw)["From"]
        found = author(raw, "saraban.dds@bangkok.go.th")
        assert found.problem is None, f"{path.name}: {sender!r}: {found.problem}"
        assert found.address.endswith("@bangkok.go.th")


# ---------------------------------------------------------------- the commands' answers

# One process runs every case through gateway.cli.main.main (a command configures the
# process's logging, which a pytest worker must keep): (argv, environment) in, exit
# status and both streams out.
_DRIVER = r"""
import contextlib, io, json, os, sys
from gateway.cli.main import main
out = []
for argv, env in json.loads(sys.stdin.read()):
    saved = dict(os.environ)
    os.environ.update(env)
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
        except BaseException as exc:
            import traceback
            traceback.print_exc(file=stderr)
            code = "raised"
    os.environ.clear()
    os.environ.update(saved)
    out.append({"code": code, "out": stdout.getvalue(), "err": stderr.getvalue()})
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def answers(tmp_path_factory):
    import gzip
    import json
    import os
    import socket
    import subprocess
    import sys

    from tests.secrecy.certs import make_cert, pem

    work = tmp_path_factory.mktemp("cli")
    (work / "registrar.pem").write_bytes(pem(make_cert("registrar")[1]))
    (work / "junk.pem").write_bytes(b"not a certificate\n")
    (work / "audit").mkdir()
    (work / "misspelt.toml").write_text('[webb]\nenabled = true\n[smtp]\nport = "x"\n', encoding="utf-8")
    (work / "register.dump").write_bytes(b"PGDMP\x01\x0e\x00" + b"\x00" * 200)  # pg_dump's, beside the archive
    (work / "cut.tar.gz").write_bytes(gzip.compress(b"saraban/" + b"\x00" * 2000)[:300])
    (work / "registrars.csv").write_bytes("unit,certificate\nสำนักงานเขตลาดกระบัง,registrar.pem\n".encode("cp874"))
    (work / "registrars-utf8.csv").write_text("unit,certificate\nสำนักงานเขตลาดกระบัง,registrar.pem\n",
                                              encoding="utf-8-sig")
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    cases = {
        "status --config": (["status", "--config", str(work / "none.toml")], {}),
        "register list -v --config": (["register", "list", "-v", "--config", str(work / "none.toml")], {}),
        "--config before": (["--config", str(work / "none.toml"), "check-config"], {}),
        "registrar typo": (["keys", "import-registrar", "saraban.latkrabng", str(work / "registrar.pem")], {}),
        "registrar address": (["keys", "import-registrar", "saraban.latkrabang@bangkok.go.th",
                               str(work / "registrar.pem")], {}),
        "registrar junk": (["keys", "import-registrar", "saraban.latkrabang", str(work / "junk.pem")], {}),
        "registrars sheet not UTF-8": (["keys", "import-registrars", str(work / "registrars.csv")], {}),
        "registrars sheet by name": (["keys", "import-registrars", str(work / "registrars-utf8.csv")], {}),
        "audit folder": (["audit", "verify", "--path", str(work / "audit")], {}),
        "audit missing": (["audit", "verify", "--path", str(work / "audit" / "audit.lg")], {}),
        "web port": (["web", "--port", "99999"], {}),
        "web busy": (["web", "--host", "127.0.0.1", "--port", str(busy.getsockname()[1])], {}),
        "misspelt": (["--config", str(work / "misspelt.toml"), "check-config"], {}),
        "env": (["check-config"], {"SARABAN_HTTP_PORT": "80a"}),
        "restore a dump": (["backup", "restore", str(work / "register.dump")],
                           {"SARABAN_DATA_DIR": str(work / "restored")}),
        "restore a cut archive": (["backup", "restore", str(work / "cut.tar.gz")],
                                  {"SARABAN_DATA_DIR": str(work / "restored")}),
        "rules check --unit typo": (["rules", "check", str(REPO / "examples" / "01-circular-to-latkrabang.eml"),
                                     "--unit", "saraban.latkrabng"], {}),
        "letter export to no folder": (["letter", "export", "1/2569", "--unit", "saraban.latkrabang",
                                        "--who", "x", "-o", str(work / "no" / "letter.eml")], {}),
        "backup into a folder": (["backup", "create", str(work)], {}),
        "db upgrade": (["db", "upgrade"], {}),
        "letter in the general book": (["letter", "view", "1/2569", "--unit", "saraban.latkrabang", "--who", "x"], {}),
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("SARABAN_")}
    env.update(PYTHONPATH=str(REPO), SARABAN_DATA_DIR=str(work / "var"),
               SARABAN_CONFIG=str(REPO / "config" / "gateway.example.toml"))
    try:
        result = subprocess.run([sys.executable, "-c", _DRIVER], input=json.dumps(list(cases.values())),
                                capture_output=True, text=True, env=env, cwd=work, timeout=120)
    finally:
        busy.close()
    assert result.returncode == 0, result.stderr
    return dict(zip(cases, json.loads(result.stdout.splitlines()[-1]))), work


def _said(answer: dict) -> str:
    assert "Traceback" not in answer["err"] + answer["out"]
    return answer["err"]


def test_every_command_takes_config_and_v_after_it_too(answers):
    """README: "Every command takes --config FILE ... and -v"; after the command they were
    "unrecognized arguments" (exit 2, the usage)."""
    said, _ = answers
    for case in ("status --config", "register list -v --config", "--config before"):
        assert said[case]["code"] == 2
        assert "none.toml: configuration file not found" in _said(said[case]), case


def test_a_registrar_certificate_for_a_unit_the_directory_lacks_is_refused(answers):
    """`keys import-registrar saraban.latkrabng FILE` (a typo) said "added to
    saraban.latkrabng (1 usable)", and saraban.latkrabang's classified letters waited for
    a registrar who had been given the certificate."""
    said, work = answers
    typo = said["registrar typo"]
    assert typo["code"] == 1
    assert 'unknown unit "saraban.latkrabng": not in the unit directory' in _said(typo)
    assert "ไม่พบหน่วยงาน" in typo["err"]
    assert not (work / "var" / "keys" / "registrars" / "saraban.latkrabng").exists()
    address = said["registrar address"]
    assert address["code"] == 0 and "added to saraban.latkrabang (1 usable)" in address["out"]
    junk = said["registrar junk"]
    assert junk["code"] == 1 and _said(junk) == "error: not a certificate (PEM or DER expected)\n"
    # Excel's plain "CSV" is Windows-874 for Thai: a traceback (UnicodeDecodeError) before.
    sheet = said["registrars sheet not UTF-8"]
    assert sheet["code"] == 1
    assert "registrars.csv: not UTF-8 text (byte 17); save the sheet as 'CSV UTF-8'" in _said(sheet)
    by_name = said["registrars sheet by name"]
    assert by_name["code"] == 0, by_name["err"]
    assert by_name["out"].startswith("saraban.latkrabang: registrar certificate ")


def test_audit_verify_of_a_wrong_path_says_so(answers):
    """A folder was a traceback (IsADirectoryError); a mistyped file "OK, no audit
    entries yet"."""
    said, _ = answers
    assert said["audit folder"]["code"] == 2
    assert "is a folder: give the log file in it, audit.log" in _said(said["audit folder"])
    assert said["audit missing"]["code"] == 2 and said["audit missing"]["out"] == ""
    assert "audit.lg: no such file" in _said(said["audit missing"])


def test_the_desk_alone_on_a_port_it_cannot_have(answers):
    """`saraban-gateway web` on a taken port (the daemon serves the desk) or one out of
    range: a traceback before (OSError: [Errno 98], OverflowError)."""
    said, _ = answers
    assert said["web port"]["code"] == 2 and "99999 is not a port (0-65535)" in _said(said["web port"])
    assert said["web busy"]["code"] == 1
    assert "the desk cannot listen on 127.0.0.1:" in _said(said["web busy"])
    assert "Address already in use" in said["web busy"]["err"]


def test_a_configuration_error_quotes_the_value_as_written(answers):
    """`webb: unknown key (misspelt?) (got {'enabled': True})`: Python's repr; and a bad
    environment variable was blamed on the file."""
    said, _ = answers
    misspelt = _said(said["misspelt"])
    assert "webb: unknown key (misspelt?) (got a table)" in misspelt
    assert 'smtp.port: Input should be a valid integer' in misspelt and '(got "x")' in misspelt
    assert "{'" not in misspelt
    assert '(got "80a" from SARABAN_HTTP_PORT)' in _said(said["env"])


def test_letter_view_names_the_book_it_searched(answers):
    said, _ = answers
    assert said["db upgrade"]["code"] == 0
    answer = said["letter in the general book"]
    assert answer["code"] == 1
    assert ("no register entry 1/2569 for saraban.latkrabang in the secret register "
            "(a number of the general register: add --book general)") in _said(answer)


def test_an_installation_reads_the_service_configuration_by_default(tmp_path, monkeypatch):
    """docs/install.md installs the package (no config/ beside it) and the configuration
    in /etc/saraban-gateway/gateway.toml: a command typed without --config was told
    ".../site-packages/config/gateway.example.toml: configuration file not found"."""
    from gateway.config import settings as module
    from gateway.config.settings import ConfigError

    service = tmp_path / "etc" / "gateway.toml"
    monkeypatch.setattr(module, "DEFAULT_CONFIG", tmp_path / "site-packages" / "config" / "gateway.example.toml")
    monkeypatch.setattr(module, "SERVICE_CONFIG", service)
    with pytest.raises(ConfigError) as refused:
        load_settings(environ={})
    assert "configuration file not found (give --config FILE or set SARABAN_CONFIG" in str(refused.value)
    service.parent.mkdir()
    service.write_text('[smtp]\nport = 25\n', encoding="utf-8")
    assert load_settings(environ={}).smtp.port == 25
    assert load_settings(environ={"SARABAN_CONFIG": str(REPO / "config" / "gateway.example.toml")}).smtp.port == 2525


def test_every_environment_variable_named_is_read():
    read = "\n".join(p.read_text(encoding="utf-8", errors="replace")
                     for top in ("gateway", "storage", "rules", "tests")
                     for p in (REPO / top).rglob("*.py") if p.name != "test_docs_true.py")
    named = {v for path in DOCS for v in re.findall(r"\bSARABAN_[A-Z_]+\b", path.read_text(encoding="utf-8"))}
    assert len(named) > 5
    assert sorted(v for v in named if v not in read) == []


def test_every_import_shown_in_a_python_block_exists():
    import importlib
    import importlib.util

    wrong, seen = [], 0
    for path in DOCS:
        for start, lang, body in fences(path):
            if lang != "python":
                continue
            for offset, line in enumerate(body):
                shown = re.match(r"\s*from ([\w.]+) import ([\w, ]+)", line.split("#")[0])
                if not shown:
                    continue
                seen += 1
                module = importlib.import_module(shown[1])
                for name in (n.strip() for n in shown[2].split(",") if n.strip()):
                    if not hasattr(module, name) and importlib.util.find_spec(f"{shown[1]}.{name}") is None:
                        wrong.append(f"{rel(path)}:{start + offset}: {shown[1]}.{name}")
    assert seen > 3
    assert not wrong, "\n" + "\n".join(wrong)


def test_outbox_list_takes_the_outbox_kinds_and_states():
    """`outbox list --kind folders` listed "0 item(s)" as if nothing were owed, and a
    rejection notice withdrawn by a release (docs/central-unit.md) could not be listed
    by its state (`--state withdrawn`: invalid choice)."""
    from gateway.delivery.runner import HANDLERS

    assert _parses(["outbox", "list", "--state", "withdrawn"]) is None
    for kind in HANDLERS:
        assert _parses(["outbox", "list", "--kind", kind]) is None
    assert "invalid choice: 'folders'" in _parses(["outbox", "list", "--kind", "folders"])


def test_backup_restore_of_a_file_that_is_no_backup(answers):
    """docs/install.md writes the pg_dump file beside the archive; restoring that one, or
    an archive cut short, was tarfile's traceback ("ReadError: not a gzip file")."""
    said, _ = answers
    for case in ("restore a dump", "restore a cut archive"):
        assert said[case]["code"] == 1, case
        assert "is not a backup written by `saraban-gateway backup create`, or it is damaged" in _said(said[case])


def test_rules_check_outside_the_repository_reads_the_configuration(answers):
    """Run elsewhere than the repository's root, `rules check` ignored SARABAN_CONFIG
    (it looked for config/gateway.example.toml under the working directory), and a
    misspelt --unit was judged "the receiving unit was removed from the directory"
    (reject) instead of refused."""
    said, _ = answers
    typo = said["rules check --unit typo"]
    assert typo["code"] == 2 and typo["out"] == ""
    assert 'unknown unit "saraban.latkrabng": not in the unit directory' in _said(typo)


def test_a_database_url_the_gateway_cannot_use_is_a_configuration_error(tmp_path):
    """docs/database.md gives `postgresql+psycopg://`; libpq's `postgres://` was "the
    database refused (NoSuchModuleError: Can't load plugin ...); is it reachable?", and
    `mysql://` a traceback, both only when a command connected. A password in a value
    the configuration refuses is not echoed."""
    from gateway.config.settings import ConfigError

    example = REPO / "config" / "gateway.example.toml"
    url = load_settings(example, environ={"SARABAN_DATABASE_URL": "postgres://saraban@db.local/saraban"}).database_url
    assert url == "postgresql+psycopg://saraban@db.local/saraban"
    with pytest.raises(ConfigError) as refused:
        load_settings(example, environ={"SARABAN_DATABASE_URL": "mysql://saraban:SECRET@db.local/saraban"})
    said = str(refused.value)
    assert "storage.database_url: Value error, use sqlite:///PATH or postgresql+psycopg://" in said
    assert "from SARABAN_DATABASE_URL" in said and "SECRET" not in said
    wrong = tmp_path / "gateway.toml"
    wrong.write_text("[notices]\npassword = 31415926\n", encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_settings(wrong, environ={})
    assert "notices.password: Input should be a valid string (got a value, not shown)" in str(refused.value)
    assert "31415926" not in str(refused.value)


def documented_defaults() -> list[tuple[str, str, str, str]]:
    """(where, section, key, default as shown) of the docs' `| key | default | ... |`
    tables; the section is the last `[section]` named just above the table."""
    out = []
    for path in DOCS:
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            if not re.match(r"^\| *key *\| *default *\|", line):
                continue
            above = " ".join(lines[max(0, number - 4):number])
            section = re.findall(r"`\[([a-z_.]+)\]`", above)[-1]
            for row_number in range(number + 2, len(lines)):
                row = lines[row_number]
                if not row.startswith("|"):
                    break
                cells = [c.strip() for c in row.strip("|").split("|")]
                for key in re.findall(r"`(\w+)`", cells[0]):
                    out.append((f"{rel(path)}:{row_number + 1}", section, key, cells[1]))
    return out


def test_every_default_in_a_key_table_is_the_default():
    sections = _model_sections()
    wrong, compared = [], 0
    for where, section, key, shown in documented_defaults():
        model = _section_model(sections, section)
        if model is None or key not in model.model_fields:
            wrong.append(f"{where}: [{section}] {key} is no key of the configuration")
            continue
        actual = model.model_fields[key].get_default(call_default_factory=True)
        value = re.match(r"`?(-?[\d.]+|true|false|\"\"|\[\])`?(?: (?:s|MB))?$", shown)
        if value is None:
            continue  # words ("none", "the unit's address"): read by a person
        compared += 1
        expected = {"true": True, "false": False, '""': "", "[]": []}.get(value[1])
        if expected is None:
            expected = float(value[1]) * (1024 * 1024 if shown.endswith("MB") else 1)
            actual = float(actual)
        if actual != expected:
            wrong.append(f"{where}: [{section}] {key} shown {shown}, is {actual!r}")
    assert compared > 10
    assert not wrong, "\n" + "\n".join(wrong)


def test_a_file_to_write_where_it_cannot_be_written(answers):
    """`letter export ID --who NAME --out FILE` into a folder that is not there was a
    traceback (FileNotFoundError), after the letter was decrypted and the export audited;
    `backup create FOLDER` said "Is a directory: /.tmp.partial", a name nobody typed."""
    said, work = answers
    answer = said["letter export to no folder"]
    assert answer["code"] == 1
    assert f"cannot write {work / 'no' / 'letter.eml'}: there is no folder {work / 'no'}" in _said(answer)
    answer = said["backup into a folder"]
    assert answer["code"] == 1
    assert _said(answer) == f"saraban-gateway: cannot write {work}: it is a folder; give a file name in it\n"
