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


def test_a_build_lock_left_by_a_killed_build_does_not_hang_the_next_run(tmp_path):
    """torch waits for its ``lock`` file to vanish; one left by an interrupted build must be cleared, not waited on."""
    import subprocess
    import sys

    try:
        ext.ops()   # built (or loaded) once here, so the child only has to load it
    except ext.ExtensionBuildError as e:
        pytest.skip(f"no C++ toolchain: {e}")
    code = ("from headgen import ext\n"
            "from pathlib import Path\n"
            "import warnings\n"
            "d = ext.extension_build_dir('headgen_ops_cpu', ext.CPU_SOURCES)\n"
            "(d / 'lock').touch()\n"
            "with warnings.catch_warnings(record=True) as w:\n"
            "    warnings.simplefilter('always')\n"
            "    ext.ops()\n"
            "assert not (d / 'lock').exists()\n"
            "assert any('interrupted' in str(x.message) for x in w), [str(x.message) for x in w]\n"
            "print('ok')\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-2000:]


def test_builds_use_the_ninja_of_the_python_package_whatever_path_says(monkeypatch):
    """System and package ninja hash command lines differently: mixing them rebuilt the extension every time."""
    import os
    import shutil
    from pathlib import Path

    ninja_pkg = pytest.importorskip("ninja")
    monkeypatch.setenv("PATH", "/usr/bin" + os.pathsep + "/bin")
    with ext._one_ninja():
        assert Path(shutil.which("ninja")).parent == Path(ninja_pkg.BIN_DIR)
    assert os.environ["PATH"] == "/usr/bin" + os.pathsep + "/bin"
