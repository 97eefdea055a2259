"""headgen.assets resolver: search order and the one-line 'missing' message (no real assets needed)."""
from __future__ import annotations

import pytest

from headgen import assets


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No shared dir beside the repo, an empty HEADGEN_ASSETS and an empty cache."""
    monkeypatch.setattr(assets, "REPO_ROOT", tmp_path / "nowhere" / "repo")
    env = tmp_path / "env_assets"
    env.mkdir()
    monkeypatch.setenv("HEADGEN_ASSETS", str(env))
    monkeypatch.setenv("HEADGEN_CACHE", str(tmp_path / "cache"))
    return env


def test_missing_asset_message_names_asset_and_fetch(isolated):
    with pytest.raises(assets.AssetMissingError) as ei:
        assets.resolve("ict_facekit/ict_facekit.npz")
    msg = str(ei.value)
    assert "'ict_facekit/ict_facekit.npz' not found" in msg
    assert "headgen assets fetch ict_facekit" in msg and "HEADGEN_ASSETS" in msg
    assert str(isolated) in msg and "\n" not in msg
    with pytest.raises(assets.AssetMissingError, match="headgen assets fetch audio"):
        assets.sample_speech()
    with pytest.raises(FileNotFoundError):          # AssetMissingError is a FileNotFoundError (CLI: one line)
        assets.mediapipe_file("canonical_face_model.obj")


def test_search_order_env_then_shared_then_cache(isolated, tmp_path, monkeypatch):
    rel = "faces/x.png"
    shared = tmp_path / "nowhere" / "shared" / "assets"
    cache = tmp_path / "cache" / "assets"
    for root in (cache, shared, isolated):
        (root / "faces").mkdir(parents=True, exist_ok=True)
    assert assets.search_roots() == [isolated, shared, cache]
    (cache / rel).write_bytes(b"c")
    assert assets.resolve(rel) == cache / rel
    (shared / rel).write_bytes(b"s")
    assert assets.resolve(rel) == shared / rel
    (isolated / rel).write_bytes(b"e")
    assert assets.resolve(rel) == isolated / rel
    monkeypatch.delenv("HEADGEN_ASSETS")
    assert assets.resolve(rel) == shared / rel
    assert assets.cache_dir() == tmp_path / "cache"
