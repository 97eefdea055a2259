"""Rigged 3D Gaussian head avatars (a library: the avatar stage trains them, animation and talking heads
drive them).

>>> from headgen.avatar import build_avatar, deform, render, save_avatar, load_avatar
>>> avatar = build_avatar(model, shape=fit_shape)                  # Gaussians bound to the mesh's triangles
>>> means, quats, scales = deform(avatar, vertices)                  # (B,V,3) -> (B,N,3), (B,N,4), (B,N,3)
>>> out = render(avatar, model, dict(expression=e, rotation=R, translation=t), K, (w, h))   # out["rgb"]
"""
from headgen.avatar.avatar import (ICT_AVATAR_PARTS, Avatar, avatar_from_rig, build_avatar, concat, deform,
                                   load_avatar, load_avatar_model, model_parts, neutral_gaussians, render,
                                   render_vertices, rgb_to_sh0, save_avatar, sh0_to_rgb, triangle_areas)
from headgen.avatar.binding import quat_multiply, to_local, triangle_frames

__all__ = ["Avatar", "ICT_AVATAR_PARTS", "avatar_from_rig", "build_avatar", "concat", "deform", "load_avatar",
           "load_avatar_model", "model_parts", "neutral_gaussians", "render", "render_vertices", "rgb_to_sh0",
           "save_avatar", "sh0_to_rgb", "triangle_areas", "quat_multiply", "to_local", "triangle_frames"]
