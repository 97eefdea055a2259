"""Backend selection of headgen.splat.rasterize."""
import pytest
import torch

from headgen import ext
from headgen.splat import backends
from headgen.splat.backends import resolve_backend


def test_auto_on_cpu_is_our_extension():
    assert resolve_backend("auto", torch.device("cpu")) == "cpu"


def test_auto_falls_back_to_the_reference_once_and_does_not_rebuild(monkeypatch):
    calls = []

    def broken():
        calls.append(1)
        raise RuntimeError("no compiler")

    monkeypatch.setattr(backends, "cpu_ops", broken)
    monkeypatch.setattr(ext, "_FAILED", {})
    with pytest.warns(UserWarning, match="no compiler"):
        assert resolve_backend("auto", torch.device("cpu")) == "torch"
    assert resolve_backend("auto", torch.device("cpu")) == "torch"
    assert len(calls) == 1
