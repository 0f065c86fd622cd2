"""The ``optimizer-explorer`` console script: starts the Streamlit app."""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    from streamlit.web import cli as stcli

    from app.ui.theme import DARK, LIGHT

    main_py = os.path.join(os.path.dirname(os.path.abspath(__file__)), "main.py")
    extra = list(sys.argv[1:] if argv is None else argv)
    settings = [
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "minimal",
        "--global.disableWidgetStateDuplicationWarning", "true",
        "--runner.postScriptGC", "false",
        "--theme.light.primaryColor", LIGHT.accent,
        "--theme.dark.primaryColor", DARK.accent,
    ]
    sys.argv = ["streamlit", "run", main_py, *settings, *extra]
    sys.exit(stcli.main())


if __name__ == "__main__":
    main()
