"""Importing any headgen module (and `headgen --help`) works with every optional dependency missing."""
import subprocess
import sys
import textwrap

OPTIONAL = ["mediapipe", "ray", "gsplat", "smplx", "diffusers", "transformers", "pytorch3d", "nvdiffrast",
            "librosa", "pocketsphinx", "hama"]

SCRIPT = textwrap.dedent("""
    import importlib, importlib.abc, pkgutil, sys
    BLOCKED = set(%r)

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r} (blocked by test)", name=name)
            return None

    sys.meta_path.insert(0, Block())
    import headgen
    failed = []
    for m in pkgutil.walk_packages(headgen.__path__, "headgen."):
        try:
            importlib.import_module(m.name)
        except Exception as e:
            failed.append(f"{m.name}: {type(e).__name__}: {e}")
    print("\\n".join(failed))
    from headgen.cli import main
    rc = main(["--help"])
    sys.exit(1 if failed else rc)
""") % (OPTIONAL,)


def test_every_module_imports_without_optional_packages():
    r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"imports failed without optional packages:\n{r.stdout}\n{r.stderr[-3000:]}"
    assert "Usage" in r.stdout
