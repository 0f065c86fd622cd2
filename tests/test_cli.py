"""The console script starts Streamlit on the app's entry point with the classroom settings."""

import os
import sys

import pytest


def test_console_script_runs_the_app(monkeypatch):
    from streamlit.web import cli as stcli

    from app import cli

    seen = {}

    def fake_main():
        seen["argv"] = list(sys.argv)
        return 0

    monkeypatch.setattr(stcli, "main", fake_main)
    monkeypatch.setattr(sys, "argv", ["optimizer-explorer", "--server.port", "8999"])
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    assert exit_.value.code == 0
    argv = seen["argv"]
    assert argv[:2] == ["streamlit", "run"] and argv[2].endswith("app/main.py")
    assert "--client.toolbarMode" in argv and argv[-2:] == ["--server.port", "8999"]


def test_the_console_script_and_the_config_file_agree_on_the_theme():
    """Streamlit's controls take the charts' accent color, whichever way the app is started."""
    import re

    from app.ui.theme import ACCENT

    config = open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".streamlit",
                               "config.toml"), encoding="utf-8").read()
    assert re.search(r'^primaryColor = "(#[0-9A-Fa-f]{6})"$', config, re.M).group(1).upper() == ACCENT.upper()
