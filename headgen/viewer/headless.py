"""Headless screenshots: start the viewer on a free local port, open it in headless Chromium, save the
frame the browser draws."""
from __future__ import annotations

import time
from pathlib import Path

from headgen.errors import InputError

__all__ = ["screenshot"]


def screenshot(source, out, size: tuple[int, int] = (800, 600), frame: int = 0, expressions: dict | None = None,
               parts: str = "head", node: str | None = None, media=None, timeout: float = 120.0) -> dict:
    """Draw ``source`` (path or HeadClip) in headless Chromium and write the PNG ``out`` (atomically).

    size: (width, height) px; frame: which frame; expressions: {ARKit name: weight} set on the sliders
    first. Returns timings {"load_s": clip + server, "browser_connect_s": launch -> websocket connected,
    "first_frame_s": launch -> first frame with the content drawn (> 2% of the pixels), "total_s"} and "path". Raises InputError for a bad
    source, no Chromium or no frame within ``timeout`` s.
    """
    from headgen.io.atomic import write_bytes_atomic
    from headgen.viewer.app import Viewer, _png_bytes
    from headgen.viewer.browser import HeadlessBrowser, find_chromium

    if find_chromium() is None:
        raise InputError("--headless needs Chromium (Debian: apt-get install chromium)")
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise InputError(f"{out}: the screenshot must be a .png")
    t0 = time.perf_counter()
    viewer = Viewer(source, port=0, parts=parts, node=node, media=media, environment=False)
    try:
        viewer.set_frame(frame)
        for k, v in (expressions or {}).items():
            viewer.set_expression(k, v)
        t_load = time.perf_counter() - t0
        # a window of the image's aspect, at least 800x600 (smaller windows get viser's mobile layout, whose
        # canvas has another aspect); the browser draws the requested size from it
        k = max(1.0, 800 / size[0], 600 / size[1])
        with HeadlessBrowser(viewer.url, size=(round(size[0] * k), round(size[1] * k))) as browser:
            try:
                viewer.wait_for_client(timeout)
                t_conn = time.perf_counter() - browser.started
                end = time.perf_counter() + timeout
                while True:   # first frame with the content on it (> 2% of the pixels not page background)
                    first = viewer.render(size[0], size[1], timeout=timeout, settle=False)
                    if (first != 255).any(-1).mean() > 0.02 or time.perf_counter() > end:
                        break
                t_first = time.perf_counter() - browser.started
                img = viewer.render(size[0], size[1], timeout=timeout)
            except TimeoutError as e:
                raise InputError(f"headless Chromium drew no frame: {e}") from None
        del first
        write_bytes_atomic(out, _png_bytes(img))
    finally:
        viewer.close()
    return {"path": str(out), "load_s": t_load, "browser_connect_s": t_conn, "first_frame_s": t_first,
            "total_s": time.perf_counter() - t0}
