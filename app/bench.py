"""The app's benchmark: ``python -m app.bench``.

Server-side time from new Playground inputs to the race view's payload, and Live Training's
steps per second per optimizer (needs the torch extra).

``python -m app.bench --browser [--quick] [--json PATH]`` measures the app in headless Chromium
instead (:mod:`app.browser_bench`): websocket bytes on open, slider -> painted latency, painted
frames per second while playing, Live Training redraws per second.
"""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m app.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--browser", action="store_true",
                        help="measure in headless Chromium (app.browser_bench) instead of on the server")
    parser.add_argument("--quick", action="store_true", help="with --browser: fewer latency samples (7 instead of 15)")
    parser.add_argument("--json", metavar="PATH", help="with --browser: also write the numbers to PATH")
    args = parser.parse_args(argv)
    if args.browser:
        from app.browser_bench import run

        run(quick=args.quick, json_path=args.json)
        return
    if args.quick or args.json:
        parser.error("--quick and --json go with --browser")
    from app.playground.bench import bench_playground

    print("# Playground (server side): new inputs -> the race view's serialized payload")
    for key, value in bench_playground().items():
        print(f"- {key}: {value:.4g}" if isinstance(value, float) else f"- {key}: {value}")
    print("\n# Live Training")
    from app.training.backend import torch_available

    if not torch_available():
        print("- torch is not installed: pip install -e \".[torch]\"")
        return
    from app.training.bench import main as training_main

    training_main()


if __name__ == "__main__":
    main()
