"""``headgen view``'s library: a browser viewer (``viser``) for avatars, fits, animations and pipeline
outputs, and headless screenshots through Chromium. No CLI here (see :mod:`headgen.viewer.cli`).

* :class:`headgen.viewer.app.Viewer`: the running viewer (scene, GUI, playback, renders from a browser);
* :func:`headgen.viewer.headless.screenshot`: PATH -> PNG drawn by headless Chromium;
* :mod:`headgen.viewer.browser`: finding and driving headless Chromium.
"""
from headgen.viewer.app import Viewer
from headgen.viewer.headless import screenshot

__all__ = ["Viewer", "screenshot"]
