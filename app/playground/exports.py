"""What the Playground offers to take away: every export of the race on screen, as a list for the menu.

:func:`race_exports` names the files and the functions that build them (nothing is built until a
teacher asks: :func:`app.ui.exports.export_menu`): stills of the race and of the loss chart, the
race as GIF and MP4 (rendered as jobs), the offline page, the steps as CSV and JSON, and the
PyTorch script that reproduces the scene. Every file is made in the projector theme the page is
drawn in when the list is built (:func:`app.ui.exports.themed`: the files are made on other threads).
"""

from __future__ import annotations

from app.exports import animation, data, offline, stills
from app.exports import torch_script as TS
from app.playground import panels as P
from app.playground import race_view as V
from app.playground.figures import Landscape
from app.playground.race import Result
from app.playground.scene import Scene
from app.ui import theme
from app.ui.exports import Export, slug, still_exports, themed

__all__ = ["race_exports", "ANIMATION_SIZES"]

ANIMATION_SIZES = ((1280, 720), (1920, 1080))


def _script(scene: Scene) -> str:
    """The PyTorch script, or why this scene cannot be written as one (shown in place of the button)."""
    try:
        TS.torch_script(scene)
    except ValueError as exc:
        return str(exc)
    return ""


def race_exports(scene: Scene, res: Result, surface, land: Landscape, log: bool) -> list[Export]:
    """The race's exports; the animations and the offline page play the whole race."""
    T = int(res.traj.steps)
    kind = theme.current()
    low = scene.precision != "float64"  # every file of a low-precision race says so: name, title, header
    name = slug(f"{scene.surface}-{len(scene.runs)}-runs-{T}-steps" + (f"-{scene.precision}" if low else ""))
    title = f"{getattr(surface, 'title', '') or scene.surface} · {T} steps" + (f" · {scene.precision}" if low else "")

    def payload() -> dict:
        return {**P.race_view(scene, res, surface, land, T, T, log=log), "title": title}

    out = still_exports(lambda: stills.race_still_figure(scene, res, surface, title=title, landscape=land),
                        f"{name}-race", what="Race map")
    out += still_exports(lambda: P.loss_chart(scene, res, surface, log, T), f"{name}-loss", what="Loss chart")
    for w, h in ANIMATION_SIZES:
        out.append(Export(f"GIF {w}x{h}", f"{name}-{w}x{h}.gif", "image/gif",
                          themed(lambda progress=None, w=w, h=h: animation.gif_in_child(payload(), land, size=(w, h),
                                                                                        progress=progress), kind),
                          heavy=True, help="Loops forever; for slides that cannot play video."))
        out.append(Export(f"MP4 {w}x{h}", f"{name}-{w}x{h}.mp4", "video/mp4",
                          themed(lambda progress=None, w=w, h=h: animation.mp4_in_child(payload(), land, size=(w, h),
                                                                                        progress=progress), kind),
                          heavy=True, help="H.264: plays in PowerPoint, Keynote and browsers."))
    out.append(Export("Offline page (HTML)", f"{name}.html", "text/html",
                      themed(lambda: offline.offline_html(payload(), V.landscape_payload(land), title).encode("utf-8"),
                             kind),
                      help="One file that plays the race with no network: for hand-outs."))
    out.append(Export("Data (CSV)", f"{name}.csv", "text/csv", lambda: data.race_csv(scene, res),
                      help="Every run's steps: position, loss, gradient, update, lr and optimizer state."))
    out.append(Export("Data and settings (JSON)", f"{name}.json", "application/json",
                      lambda: data.race_json(scene, res)))
    refused = _script(scene)
    label, words = "PyTorch script", "Reproduces these paths with torch.optim (or the named reference package)."
    if low:
        approximate = TS.precision_notes(scene)  # said next to the item, as in the script's header
        runs = ", ".join(str(i + 1) for i in approximate)
        label += f" ({scene.precision}" + (f"; only approximately: run{'s' * (len(approximate) > 1)} {runs})"
                                           if approximate else ")")
        words += f" Parameters and optimizer state stored in {scene.precision}, rounded as the app rounds them."
        words += "".join(f" Run {i + 1} ({scene.runs[i].optimizer}): {why}." for i, why in approximate.items())
    out.append(Export(label, f"{name}.py", "text/x-python",
                      lambda: TS.torch_script(scene).encode("utf-8"), help=words,
                      unavailable=f"not for this scene: {refused}" if refused else None))
    return out
