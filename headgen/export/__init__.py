"""Exports of headgen results to the formats other tools open (a library, no CLI; ``headgen export`` is in
:mod:`headgen.export.cli`).

* :mod:`headgen.export.sources`: read a fit / animation / avatar / pipeline output as a :class:`HeadClip`;
* :mod:`headgen.export.morph`: the ICT head as base mesh + 52 ARKit morph targets for one identity;
* :mod:`headgen.export.gltf`: glTF 2.0 binary with named morph targets and a weights/rotation animation;
* :mod:`headgen.export.splats`: standard 3D Gaussian splatting PLY read/write;
* :func:`export_clip`: PATH -> .glb / .obj / .ply by suffix.
"""
from headgen.export.run import EXPORT_SUFFIXES, export_clip

__all__ = ["export_clip", "EXPORT_SUFFIXES"]
