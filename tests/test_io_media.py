"""headgen.io.media: one set of extensions, folder listing, frames by index (streamed or kept), images as
one-frame videos."""
from __future__ import annotations

import numpy as np

from headgen.io.media import IMAGE_EXTS, Media, expand_inputs, folder_media, media_kind, read_frames


def test_selected_frames_are_streamed_exactly(grid_clip):
    from headgen.io.video import read_video

    ids = np.array([0, 3, 7, 20])
    sel = read_frames(grid_clip, ids)
    full, _ = read_video(grid_clip, max_frames=21)
    assert sel.dtype == np.uint8 and np.array_equal(sel, full[ids])


def test_clip_is_decoded_once_and_kept(grid_clip):
    from headgen.io.video import read_video

    clip = Media(grid_clip, max_frames=10)
    first = np.stack(list(clip))
    assert len(clip) == 10 and clip.fps > 0 and clip.kind == "video"
    clip._reader = None                      # a second pass must not decode again
    assert np.array_equal(np.stack(list(clip)), first)
    assert np.array_equal(clip.frames([9, 2, 2]), first[[9, 2, 2]])
    assert np.array_equal(first, read_video(grid_clip, max_frames=10)[0])


def test_image_is_a_one_frame_video(tmp_path):
    from headgen.io.images import write_image

    img = (np.arange(12 * 16 * 3) % 255).astype(np.uint8).reshape(12, 16, 3)
    p = write_image(tmp_path / "a.png", img)
    m = Media(p)
    assert (m.kind, m.fps, m.size, len(m)) == ("image", 0.0, (16, 12), 1)
    assert np.array_equal(np.stack(list(m))[0], img) and np.array_equal(m.frames([0])[0], img)


def test_expand_inputs_and_kinds(tmp_path):
    (tmp_path / "d").mkdir()
    for name in ("b.png", "a.mp4", "notes.txt"):
        (tmp_path / "d" / name).write_bytes(b"x")
    (tmp_path / "empty").mkdir()
    assert [p.name for p in folder_media(tmp_path / "d")] == ["a.mp4", "b.png"]
    files, errors = expand_inputs([tmp_path / "d", tmp_path / "d" / "b.png", tmp_path / "empty", tmp_path / "no"])
    assert [(f.path.name, f.kind) for f in files] == [("a.mp4", "video"), ("b.png", "image")]
    assert [p.name for p, _ in errors] == ["empty", "no"]
    assert media_kind("x.JPG") == "image" and media_kind("x.mpg") == "video" and ".tiff" in IMAGE_EXTS
