"""The runners' configuration (gateway/config/views.py): the supervisor validates the file
and hands each runner plain views of it, so no runner imports pydantic. A view must
answer every question its model answers, the same way, in a process without pydantic."""
from __future__ import annotations

import inspect
import json
import pickle
import subprocess
import sys
from pathlib import Path

from pydantic import BaseModel

from gateway.config import views
from gateway.config.delivery import UnitDelivery
from gateway.config.settings import as_view, load_settings
from gateway.delivery.targets import route_for
from tests.paths import REPO

RICH = """
[storage]
data_dir = "var-views"
[directory]
path = "units.toml"
[register]
start_numbers = {{ "saraban.latkrabang" = {{ 2569 = 120 }}, "saraban.latkrabang/secret" = {{ 2569 = 7 }} }}
[pipeline]
workers = 0
[delivery]
workers = 0
[delivery.imap.main]
host = "imap.bangkok.go.th"
username = "gateway"
password_file = "{secret}"
[delivery.smtp.relay]
host = "relay.bangkok.go.th"
username = "gw"
starttls = true
[delivery.smtp.local]
host = "127.0.0.1"
port = 2600
[delivery.units."saraban.dds"]
backend = "imap"
folder = "DDS/Inbox"
registrar = {{ username = "registrar", password = "r-pass", folder = "Secret" }}
[delivery.units."saraban.klongtoey"]
backend = "smtp"
server = "relay"
to = ["office@klongtoey.bangkok.go.th"]
[notices]
smarthost = "mail.bangkok.go.th:587"
username = "notices"
password = "n-pass"
[sender]
domains = {{ "*.go.th" = "quarantine", "bangkok.go.th" = "warn", "mail.example.org" = "quarantine" }}
on_fail = "warn"
[smtp]
min_free_mb = 7
[[imap_intake]]
unit = "saraban.latkrabang@bangkok.go.th"
host = "imap.bangkok.go.th"
username = "central"
password = "c-pass"
"""

# Every derived member of the views' mixins, and the arguments to ask a method with.
ASKED = {
    "open_database": None,  # one body for both (SettingsDerived); database_url is compared
    "config_relative": [(Path("keys/seal.pem"),), (Path("/etc/ssl/seal.pem"),)],
    "start_number": [("saraban.latkrabang", "general", 2569), ("saraban.latkrabang", "secret", 2569),
                     ("saraban.dds", "general", 2570)],
    "action_for": [("bangkok.go.th",), ("moph.go.th",), ("MAIL.example.org.",), ("gmail.com",), (None,)],
    "protected": [("bangkok.go.th",), ("moph.go.th",), ("gmail.com",)],
    "protected_suffix": [("go.th",), ("bangkok.go.th",), ("gmail.com",), (None,)],
    "secret": [()],
}


def _settings(tmp_path):
    secret = tmp_path / "imap.secret"
    secret.write_text("from-a-file\n", encoding="utf-8")
    path = tmp_path / "gateway.toml"
    path.write_text(RICH.format(secret=secret), encoding="utf-8")
    return load_settings(path, environ={})


def _derived(cls: type) -> list[str]:
    names = []
    for klass in cls.__mro__:
        if klass.__module__ == views.__name__ and klass is not views.View:
            names += [n for n, v in vars(klass).items()
                      if not n.startswith("_") and (isinstance(v, property) or inspect.isfunction(v))]
    return sorted(set(names))


def _answers(obj, cls_name: str) -> dict:
    """What `obj` (a model or its view) answers to every derived member of its view class."""
    out = {}
    for name in _derived(views.VIEWS.get(cls_name, views.View)):
        asked = ASKED.get(name, "property")
        if asked is None:
            continue
        if asked == "property":
            out[name] = getattr(obj, name)
        else:
            out[name] = [getattr(obj, name)(*args) for args in asked]
    return out


def _compare(model: BaseModel, view, where: str = "settings") -> int:
    """Every field and every derived value of `model` and `view` alike, recursively; the
    number of models compared."""
    name = type(model).__name__
    assert type(view) is views.VIEWS.get(name, views.View), where
    seen = 1
    for field in type(model).model_fields:
        seen += _compare_values(getattr(model, field), getattr(view, field), f"{where}.{field}")
    assert _answers(model, name) == _answers(view, name), where
    return seen


def _compare_values(model_value, view_value, where: str) -> int:
    if isinstance(model_value, BaseModel):
        return _compare(model_value, view_value, where)
    if isinstance(model_value, (list, tuple)):
        assert type(view_value) is type(model_value) and len(view_value) == len(model_value), where
        return sum(_compare_values(a, b, f"{where}[{i}]") for i, (a, b) in enumerate(zip(model_value, view_value)))
    if isinstance(model_value, dict):
        assert list(view_value) == list(model_value), where
        return sum(_compare_values(model_value[k], view_value[k], f"{where}[{k!r}]") for k in model_value)
    assert view_value == model_value and type(view_value) is type(model_value), where
    return 0


def test_a_view_has_every_field_and_answers_every_derived_value_as_its_model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the relative data_dir resolves against it, in both
    settings = _settings(tmp_path)
    view = as_view(settings)
    # All 25 models of the configuration were compared: the sections, the servers, the
    # routes with their registrar, the pulled mailbox.
    assert _compare(settings, view) >= 25
    assert view.notices.uses_starttls and settings.notices.uses_starttls
    assert view.delivery.imap["main"].secret() == "from-a-file"
    assert view.delivery.smtp["relay"].uses_starttls and not view.delivery.smtp["local"].uses_starttls
    assert view.sender.action_for("bangkok.go.th") == "warn" and view.sender.protected("moph.go.th")
    assert view.imap_intake[0].key == "imap://central@imap.bangkok.go.th/INBOX"
    assert view.start_number("saraban.latkrabang", "secret", 2569) == 7
    assert view.min_free_bytes == 7 * 1024 * 1024
    # A unit without its own table is filed by the default backend, as the model says.
    assert route_for(view, "saraban.nongchok") == as_view(UnitDelivery(backend="maildir"))
    assert route_for(settings, "saraban.nongchok") == UnitDelivery(backend="maildir")
    assert route_for(view, "saraban.dds").registrar.secret() == "r-pass"


_CHILD = """
import json, pickle, sys
sys.modules["pydantic"] = None  # any import of it fails
view = pickle.loads(sys.stdin.buffer.read())
answers = {
    "data_dir": str(view.data_dir), "spool_dir": str(view.spool_dir), "folders_dir": str(view.folders_dir),
    "directory_path": str(view.directory_path), "database_url": view.database_url,
    "runners": view.pipeline.runners, "threads": view.delivery.threads,
    "uses_starttls": view.notices.uses_starttls, "relay_starttls": view.delivery.smtp["relay"].uses_starttls,
    "imap_secret": view.delivery.imap["main"].secret(), "intake_key": view.imap_intake[0].key,
    "action": [view.sender.action_for(d) for d in ("bangkok.go.th", "moph.go.th", "gmail.com")],
    "start": view.start_number("saraban.latkrabang", "general", 2569),
}
from gateway.delivery.targets import route_for
answers["default_backend"] = route_for(view, "saraban.nongchok").backend
answers["pydantic"] = sorted(m for m in sys.modules if m.startswith("pydantic") and sys.modules[m] is not None)
print(json.dumps(answers))
"""


def test_a_runner_reads_its_view_without_pydantic(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = _settings(tmp_path)
    out = subprocess.run([sys.executable, "-c", _CHILD], input=pickle.dumps(as_view(settings)),
                         capture_output=True, check=True, timeout=60, cwd=tmp_path,
                         env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}).stdout
    answers = json.loads(out.decode().splitlines()[-1])
    assert answers == {
        "data_dir": str(settings.data_dir), "spool_dir": str(settings.spool_dir),
        "folders_dir": str(settings.folders_dir), "directory_path": str(settings.directory_path),
        "database_url": settings.database_url, "runners": settings.pipeline.runners,
        "threads": settings.delivery.threads, "uses_starttls": True, "relay_starttls": True,
        "imap_secret": "from-a-file", "intake_key": settings.imap_intake[0].key,
        "action": ["warn", "quarantine", "warn"], "start": 120, "default_backend": "maildir",
        "pydantic": [],
    }
