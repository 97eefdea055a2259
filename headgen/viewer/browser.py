"""Headless Chromium for drawing the viewer's page without a display (tests, ``--headless``, benches).

Chromium draws viser's WebGL on the CPU through SwiftShader (ANGLE); no GPU, sandbox or network is
needed. The browser stays open as a normal viser client, so the viewer asks it for rendered frames
(``ClientHandle.get_render``: the WebGL canvas read back) as often as it likes.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time

__all__ = ["find_chromium", "HeadlessBrowser", "free_port", "CHROMIUM_FLAGS"]

#: flags for a headless, offline, CPU-rendering Chromium
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
                  "--disable-gpu-sandbox", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-extensions", "--mute-audio",
                  "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
                  "--disable-backgrounding-occluded-windows")


def find_chromium() -> str | None:
    """Path of a Chromium/Chrome binary ($HEADGEN_CHROMIUM, then chromium, chromium-browser,
    google-chrome on PATH), or None."""
    env = os.environ.get("HEADGEN_CHROMIUM")
    if env:
        return env if shutil.which(env) or os.path.isfile(env) else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        p = shutil.which(name)
        if p:
            return p
    return None


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class HeadlessBrowser:
    """A headless Chromium showing ``url`` until :meth:`close` (a context manager).

    size: window (width, height) px. Raises RuntimeError when no Chromium is installed
    (:func:`find_chromium`). ``started`` is the time.perf_counter() of the launch.
    """

    def __init__(self, url: str, size: tuple[int, int] = (800, 600), binary: str | None = None):
        binary = binary or find_chromium()
        if binary is None:
            raise RuntimeError("no Chromium found (install Debian's chromium, or set HEADGEN_CHROMIUM)")
        self._dir = tempfile.mkdtemp(prefix="headgen-chromium-")
        args = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={self._dir}", "--remote-debugging-port=0",
                f"--window-size={int(size[0])},{int(size[1])}", url]
        self.started = time.perf_counter()
        self._proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, start_new_session=True)

    @property
    def alive(self) -> bool:
        """Whether the browser process is still running."""
        return self._proc.poll() is None

    def devtools_port(self, timeout: float = 30.0) -> int:
        """The DevTools (CDP) port Chromium chose (read from its profile's DevToolsActivePort file)."""
        f = os.path.join(self._dir, "DevToolsActivePort")
        end = time.perf_counter() + timeout
        while time.perf_counter() < end:
            try:
                with open(f) as fh:
                    return int(fh.readline().strip())
            except (OSError, ValueError):
                time.sleep(0.05)
        raise TimeoutError("Chromium did not open its DevTools port")

    def evaluate(self, expression: str, timeout: float = 60.0):
        """Evaluate a JavaScript expression in the page (awaiting a returned promise) through the DevTools
        protocol -> its JSON value. RuntimeError on a script exception."""
        import json
        import urllib.request

        from websockets.sync.client import connect
        port = self.devtools_port(timeout)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=timeout) as r:
            pages = [t for t in json.loads(r.read()) if t.get("type") == "page"]
        if not pages:
            raise RuntimeError("no page in the browser")
        with connect(pages[0]["webSocketDebuggerUrl"], open_timeout=timeout, max_size=None) as ws:
            ws.send(json.dumps({"id": 1, "method": "Runtime.evaluate", "params": {
                "expression": expression, "awaitPromise": True, "returnByValue": True}}))
            while True:
                msg = json.loads(ws.recv(timeout=timeout))
                if msg.get("id") == 1:
                    break
        res = msg.get("result", {})
        if "exceptionDetails" in res:
            raise RuntimeError(f"page script failed: {res['exceptionDetails'].get('text')}")
        return res.get("result", {}).get("value")

    def close(self) -> None:
        """Stop the browser (its own process group) and remove its profile folder."""
        if self._proc.poll() is None:
            try:
                os.killpg(self._proc.pid, 15)
            except (ProcessLookupError, PermissionError):
                self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self._proc.pid, 9)
                except (ProcessLookupError, PermissionError):
                    self._proc.kill()
                self._proc.wait(10)
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> "HeadlessBrowser":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
