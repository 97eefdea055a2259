#!/usr/bin/env bash
# GPU checks, for a machine with an NVIDIA GPU, a CUDA build of torch and nvcc (CI has none of these):
#   1. build our CUDA extensions (splat + mesh rasteriser) and run the CUDA tests: CUDA vs CPU extension
#      (images, alphas, every gradient), builtin CUDA mesh rasteriser vs CPU;
#   2. build gsplat (JIT, in the background while 1 runs) and compare CUDA vs gsplat;
#   3. bench/splat.py on the GPU: ours vs gsplat, forward/backward ms and peak memory.
# Logs and results go to $OUT (default bench/results/gpu; 7 files). Optional: a gsplat wheel in .whl/ when gsplat is
# not installed (it is pure Python + sources; its CUDA code is compiled here on first use).
#
#     OUT=/tmp/gpu bash bench/gpu_check.sh
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-bench/results/gpu}
mkdir -p "$OUT"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
export CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
if [ ! -x "$CUDA_HOME/bin/nvcc" ] && command -v nvcc >/dev/null; then
  CUDA_HOME=$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")
fi
# Build for the GPU that is here only (compile time): e.g. 9.0 on H100/H200.
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-$($PY -c "import torch;print('%d.%d' % torch.cuda.get_device_capability())")}
t0=$(date +%s)
stamp() { echo "[gpu_check +$(( $(date +%s) - t0 ))s] $*"; }

{ nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  $PY -c "import torch, numpy; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'numpy', numpy.__version__)"
  echo "TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST nvcc: $($CUDA_HOME/bin/nvcc --version | tail -1)"; } | tee "$OUT/env.txt"

gs_pid=""
if ! $PY -c "import gsplat" 2>/dev/null && ls .whl/gsplat-*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-deps --no-compile --target /tmp/gsplat_site .whl/gsplat-*.whl
  export PYTHONPATH=$PYTHONPATH:/tmp/gsplat_site
fi
if $PY -c "import gsplat" 2>/dev/null; then
  stamp "building gsplat in the background"
  ( MAX_JOBS=8 timeout 360 $PY -c "import time; t=time.time(); from gsplat.cuda._backend import _C; \
print('gsplat', 'built' if _C is not None else 'NOT built', 'in %.0f s' % (time.time()-t))" ) > /tmp/gsplat_build.log 2>&1 &
  gs_pid=$!
fi

stamp "building our extension (CUDA and CPU builds, in parallel)"
build() {  # $1: label, $2: python statement that builds it
  MAX_JOBS=4 timeout 400 $PY -c "import time; t=time.time(); $2; print('$1 built in %.0f s' % (time.time()-t))" 2>&1 | tail -15
}
pids=()
build "ext cuda" "from headgen.ext import ops; ops(cuda=True)" > /tmp/ext_ops_cuda.log & pids+=($!)
build "ext cpu" "from headgen.ext import ops; ops()" > /dev/null & pids+=($!)
wait "${pids[@]}"
cat /tmp/ext_*_cuda.log | tee "$OUT/build.log"

stamp "CUDA tests (ours vs CPU)"
timeout 400 $PY -m pytest -q -p no:cacheprovider --timeout=90 -rA tests/test_splat_cuda.py tests/test_splat_degenerate.py \
  tests/test_render_raster.py \
  -k "cuda and not gsplat" 2>&1 | tail -40 | tee "$OUT/pytest_cuda.log"

if [ -n "$gs_pid" ]; then
  stamp "waiting for gsplat"; wait "$gs_pid"; tail -5 /tmp/gsplat_build.log | tee -a "$OUT/build.log"
  if ! grep -q "gsplat built" /tmp/gsplat_build.log; then  # don't let the tests/bench retry the JIT build
    export PYTHONPATH=${PYTHONPATH//:\/tmp\/gsplat_site/}
  fi
fi
stamp "CUDA vs gsplat"
timeout 200 $PY -m pytest -q -p no:cacheprovider --timeout=90 -rA tests/test_splat_cuda.py -k gsplat 2>&1 | tail -30 \
  | tee "$OUT/pytest_gsplat.log"

stamp "bench/splat.py --device cuda"
timeout 240 $PY bench/splat.py --device cuda --profile --out "$OUT/splat_cuda.json" 2>&1 | grep -v "^USDT" | tee "$OUT/bench_splat.log"
stamp "done"
