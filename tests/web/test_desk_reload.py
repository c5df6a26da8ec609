"""SIGHUP reloads the unit directory; the desk in the same daemon follows it (scopes,
unit names, releases) instead of keeping the directory it started with."""
from __future__ import annotations

from gateway.config.settings import load_settings
from gateway.units.directory import load_directory
from gateway.web.desk import Desk
from tests.daemon import write_config


def test_the_desk_takes_a_reloaded_directory(tmp_path):
    settings = load_settings(write_config(tmp_path, extra="[web]\nenabled = true\n"), environ={})
    desk = Desk(settings)
    try:
        units = tmp_path / "units.toml"
        units.write_text(settings.directory_path.read_text(encoding="utf-8").replace(
            "สำนักงานเขตลาดกระบัง", "สำนักงานเขตลาดกระบัง (ใหม่)", 1), encoding="utf-8")
        reloaded = load_directory(units, settings.gateway.domain)
        desk.use_directory(reloaded)
        assert desk.services.directory is reloaded and desk.auth.directory is reloaded
        assert desk.unit_name("saraban.latkrabang") == "สำนักงานเขตลาดกระบัง (ใหม่)"
    finally:
        desk.close()
