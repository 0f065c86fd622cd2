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
    """Streamlit's controls take the charts' accent color in each theme, whichever way the app is started;
    no top-level [theme] setting pins the page to one theme (?theme=dark must be able to darken it)."""
    import re

    from streamlit.web import cli as stcli

    from app import cli
    from app.ui.theme import DARK, LIGHT

    config = open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".streamlit",
                               "config.toml"), encoding="utf-8").read()
    assert "\n[theme]\n" not in config
    for section, accent in (("light", LIGHT.accent), ("dark", DARK.accent)):
        m = re.search(r"^\[theme\.%s\]\n(?:#.*\n)*primaryColor = \"(#[0-9A-Fa-f]{6})\"$" % section, config, re.M)
        assert m and m.group(1).upper() == accent.upper(), section
    seen = {}

    def fake_main():
        seen["argv"] = list(sys.argv)
        return 0

    stcli_main = stcli.main
    stcli.main = fake_main
    try:
        with pytest.raises(SystemExit):
            cli.main([])
    finally:
        stcli.main = stcli_main
    argv = seen["argv"]
    assert argv[argv.index("--theme.light.primaryColor") + 1] == LIGHT.accent
    assert argv[argv.index("--theme.dark.primaryColor") + 1] == DARK.accent
