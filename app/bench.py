"""The app's benchmark: ``python -m app.bench``.

Server-side time from new Playground inputs to a finished figure, and Live Training's
steps per second per optimizer (needs the torch extra).
"""

from __future__ import annotations


def main() -> None:
    from app.playground.bench import bench_playground

    print("# Playground: new inputs -> finished figure (engine + frames + serialization)")
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
