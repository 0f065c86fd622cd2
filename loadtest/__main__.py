"""``python -m loadtest run [--users N] [--duration S] [--url URL] [--heavy] [--browsers N] [--json PATH]``;
``python -m loadtest memory [--steps 0,10,30,60] [--ttl S] [--env NAME=VALUE] [--json PATH]``."""

import sys

USAGE = """usage: python -m loadtest run [options]      (python -m loadtest run --help for the options)
       python -m loadtest memory [options]   (python -m loadtest memory --help)

Simulated students speak Streamlit's websocket protocol to one app server (started here unless --url
is given), driven by Locust; the report gives p50/p95/p99 from input to the rerun's last message,
errors, the server's peak memory and CPU, and isolation violations.

memory: the server's RSS with 0, 10, 30 and 60 sessions open, and after they leave."""


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    if argv[0] == "memory":
        from loadtest.memory import main as memory_main

        return memory_main(argv[1:])
    if argv[0] != "run":
        print(f"unknown command {argv[0]!r}\n\n{USAGE}", file=sys.stderr)
        return 2
    from loadtest.run import main as run_main

    return run_main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
