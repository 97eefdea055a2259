"""Mesh rendering: rasterisation (builtin C++/CUDA, pure-torch reference, pytorch3d, nvdiffrast),
differentiable attribute interpolation, shading, texture projection, overlays, turntables, plots.

    from headgen.render import rasterize, interpolate, render_mesh
    raster = rasterize(verts_cam, faces, K, H, W)          # Raster(tri_id, bary, depth)
    img = render_mesh(verts_cam, faces, K, H, W)             # (B, H, W, 3) float [0, 1]
"""
from headgen.render.antialias import antialias
from headgen.render.raster import (Raster, barycentrics_from_ids, interpolate, project_to_screen, rasterize,
                                   rasterize_screen)
from headgen.render.shading import (face_normals, lambert, render_mesh, sample_texture, shade,
                                    vertex_normals)
from headgen.render.texture import fill_texture, project_texture

__all__ = ["antialias", "Raster", "rasterize", "rasterize_screen", "interpolate", "barycentrics_from_ids",
           "project_to_screen", "render_mesh", "shade", "face_normals", "vertex_normals", "lambert",
           "sample_texture", "project_texture", "fill_texture"]
