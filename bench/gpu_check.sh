#!/usr/bin/env bash
# Set up and check dltut's GPU path on a machine with an NVIDIA GPU, in a few minutes.
#
#   bench/gpu_check.sh [--venv DIR | --bootstrap] [--budget SECONDS]
#   bench/gpu_check.sh --prepare      # on a Debian 12 machine with network: fill .gpu/ (~60 MB)
#                                     # with what a machine without network needs, then stop
#
# 1. prints the machine: GPU (nvidia-smi), driver, compilers, the CUDA libraries it has;
# 2. finds a Python 3.11 venv: --venv / $VENV / <repo>/.venv, else builds one under
#    $DLTUT_GPU_WORK (default /tmp/dltut-gpu) from what <repo>/.gpu carries: Debian 12's
#    python3.11 .deb files (--bootstrap: always build it) (unpacked with dpkg -x into a prefix, never into /) and wheels of
#    numpy 1.26.4, Theano 1.0.5, six, mako, markupsafe and setuptools;
# 3. runs scripts/gpu_setup.sh (offline when .gpu/debs holds the packages);
# 4. checks the GPU stack without Theano: dltut's preflight, then pygpu on its own (device
#    name, an NVRTC-compiled kernel, a cuBLAS gemm);
# 5. runs bench/gpu_smoke.py (MLP and LeNet5 on synthetic data, 2 epochs each: s/epoch,
#    test error, transfer check);
# 6. if time is left, one epoch of scripts/mlp.py, then scripts/convolutional_mlp.py, with
#    --device cuda, on data/mnist.pkl.gz or else on synthetic data written in its format.
# If pygpu cannot build a kernel with the system's NVRTC, it retries with the CUDA 12 NVRTC
# wheel carried in <repo>/.gpu/nvrtc12 (when there is one).
# Each step has a time limit, and the whole stays within --budget (default 380 s).
# Exit status: that of gpu_smoke.py (0 all checks passed), or 1 when set-up failed.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${VENV:-}
budget=380
bootstrap=0
prepare=0
while [ $# -gt 0 ]; do
  case $1 in
    --venv) venv=$2; shift 2 ;;
    --budget) budget=$2; shift 2 ;;
    --bootstrap) bootstrap=1; shift ;;
    --prepare) prepare=1; shift ;;
    -h|--help) sed -n '2,/^set -uo/p' "$0" | grep '^#'; exit 0 ;;
    *) echo "gpu_check: unknown option $1" >&2; exit 2 ;;
  esac
done
if [ $prepare = 1 ]; then
  # Debian 12's python3.11 (unpacked into a prefix there, never into /), pygpu/libgpuarray,
  # patchelf, the wheels Theano needs on Python 3.11, and a CUDA 12 NVRTC as a fallback.
  set -e
  mkdir -p "$repo/.gpu/debs" "$repo/.gpu/wheels" "$repo/.gpu/nvrtc12"
  (cd "$repo/.gpu/debs" && apt-get download python3.11-minimal libpython3.11-minimal \
     libpython3.11-stdlib libpython3.11 libpython3.11-dev python3.11-dev python3-distutils \
     python3-lib2to3 libexpat1 libffi8 zlib1g libssl3 python3-pygpu libgpuarray3 \
     libgpuarray-dev patchelf 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
  pip=("${PIP:-$repo/.venv/bin/pip}" download --no-deps --only-binary=:all: --python-version 3.11
       --implementation cp --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64)
  "${pip[@]}" -q -d "$repo/.gpu/wheels" numpy==1.26.4 six mako markupsafe setuptools==65.5.0
  # Theano's setup.py needs dltut/compat/theano_build on Python 3.12+ (docs/guide/setup.md, "Versions and compatibility")
  PYTHONPATH="$repo/dltut/compat/theano_build" "${PIP:-$repo/.venv/bin/pip}" wheel -q --no-deps \
    --no-build-isolation -w "$repo/.gpu/wheels" Theano==1.0.5
  "${pip[@]}" -q -d "$repo/.gpu/nvrtc12" nvidia-cuda-nvrtc-cu12==12.4.127
  du -sh "$repo/.gpu"
  echo "carry .gpu and run: bash bench/gpu_check.sh --bootstrap"
  exit 0
fi
work=${DLTUT_GPU_WORK:-/tmp/dltut-gpu}
mkdir -p "$work"
cd "$repo"
SECONDS=0
step() { echo; echo "=== [${SECONDS}s] $*"; }
left() { echo $((budget - SECONDS)); }
limit() {  # limit WANTED: the seconds a step may take, leaving 10 s for the summary
  local l=$(( $(left) - 10 ))
  [ "$l" -gt "$1" ] && l=$1
  [ "$l" -lt 1 ] && l=1
  echo "$l"
}

step "machine"
uname -srm
(ldd --version 2>&1 | head -n 1) || true
(. /etc/os-release 2>/dev/null && echo "os: $PRETTY_NAME") || true
nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>&1 || echo "nvidia-smi failed"
for tool in g++ gcc c++ nvcc patchelf dpkg; do
  printf '%-9s %s\n' "$tool" "$(command -v $tool || echo MISSING)"
done
(g++ --version 2>/dev/null | head -n 1) || true
echo "CUDA libraries in the loader cache:"
(ldconfig -p 2>/dev/null | grep -E 'lib(cuda|nvrtc|cublas)\.so' | sed 's/^/  /') || true
ls /usr/local/cuda/lib64 2>/dev/null | grep -E '^lib(nvrtc|cublas)' | sed 's/^/  \/usr\/local\/cuda\/lib64\//' || true

# --- a Python 3.11 venv --------------------------------------------------------------------
step "python 3.11"
if [ -z "$venv" ] && [ $bootstrap = 0 ] && [ -x "$repo/.venv/bin/python" ] &&
   [ "$("$repo/.venv/bin/python" -c 'import sys; print(sys.version_info[:2] == (3, 11))')" = True ]; then
  venv=$repo/.venv
fi
if [ -z "$venv" ]; then
  debs=$repo/.gpu/debs wheels=$repo/.gpu/wheels
  compgen -G "$debs/python3.11-minimal_*.deb" >/dev/null ||
    { echo "no Python 3.11 venv and no $debs/python3.11-minimal_*.deb to build one"; exit 1; }
  prefix=$work/py311
  rm -rf "$prefix" "$work/venv"
  for p in python3.11-minimal libpython3.11-minimal libpython3.11-stdlib libpython3.11 \
           libpython3.11-dev python3.11-dev python3-distutils python3-lib2to3; do
    f=$(ls "$debs/${p}"_*.deb 2>/dev/null | tail -n 1)
    [ -n "$f" ] && dpkg -x "$f" "$prefix"
  done
  # libraries the interpreter needs, from Debian only where this system lacks them
  mkdir -p "$work/fallback" "$work/pylib"
  for pair in libexpat.so.1:libexpat1 libffi.so.8:libffi8 libz.so.1:zlib1g libssl.so.3:libssl3; do
    so=${pair%%:*} pkg=${pair#*:}
    if ! ldconfig -p 2>/dev/null | grep -qE "^[[:space:]]*${so//./\\.}[[:space:]]"; then
      f=$(ls "$debs/${pkg}"_*.deb 2>/dev/null | tail -n 1)
      [ -n "$f" ] && dpkg -x "$f" "$work/fallback-root" &&
        ln -sfn "$(find "$work/fallback-root" -name "$so" | head -n 1)" "$work/fallback/$so" &&
        echo "using Debian's $so (the system has none)"
    fi
  done
  # Theano links its C modules with -lpython3.11 and includes <x86_64-linux-gnu/python3.11/pyconfig.h>
  ln -sfn "$prefix/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0" "$work/pylib/"
  export LD_LIBRARY_PATH="$work/pylib:$work/fallback${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export CPATH="$prefix/usr/include${CPATH:+:$CPATH}"
  export LIBRARY_PATH="$prefix/usr/lib/x86_64-linux-gnu${LIBRARY_PATH:+:$LIBRARY_PATH}"
  "$prefix/usr/bin/python3.11" -m venv --without-pip "$work/venv" || { echo "venv failed"; exit 1; }
  venv=$work/venv
  site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')
  for w in "$wheels"/*.whl; do "$venv/bin/python" -m zipfile -e "$w" "$site"; done
  echo "built $venv from Debian's python3.11 debs and $(ls "$wheels" | wc -l) wheels"
fi
py=$venv/bin/python
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"   # dltut from this checkout
"$py" -c 'import sys, dltut, numpy, theano; print("python", sys.version.split()[0], "numpy", numpy.__version__, "theano", theano.__version__)' 2>&1 | tail -n 2

# --- gpu_setup ----------------------------------------------------------------------------------
step "scripts/gpu_setup.sh"
setup_args=(--venv "$venv")
compgen -G "$repo/.gpu/debs/python3-pygpu_*.deb" >/dev/null && setup_args+=(--offline)
if ! compgen -G "/usr/local/cuda/lib64/libnvrtc.so.*" >/dev/null ||
   ! compgen -G "/usr/local/cuda/lib64/libcublas.so.*" >/dev/null; then
  for d in /opt/*/.venv/lib/python3*/site-packages/nvidia/*/lib /usr/local/lib/python3*/dist-packages/nvidia/*/lib; do
    [ -d "$d" ] && setup_args+=(--cuda-lib "$d")
  done
fi
timeout "$(limit 90)" bash scripts/gpu_setup.sh "${setup_args[@]}" || { echo "gpu_setup failed"; exit 1; }

# --- the stack without Theano ---------------------------------------------------------------
step "pygpu alone (no LD_LIBRARY_PATH for CUDA: RUNPATH only)"
cat >"$work/pygpu_check.py" <<'EOF'
import time
import numpy
import pygpu
from pygpu import blas, gpuarray
t0 = time.perf_counter()
ctx = pygpu.init("cuda0")
print("pygpu %s, context on %s, %.1f GiB free, init %.2f s" % (
    pygpu.__version__, ctx.devname, ctx.free_gmem / 2**30, time.perf_counter() - t0))
a = gpuarray.asarray(numpy.arange(6, dtype="float32"), context=ctx)
t0 = time.perf_counter()
b = numpy.asarray(a * 2 + 1)
print("NVRTC elementwise kernel: %s (%.2f s)" % (b.tolist(), time.perf_counter() - t0))
m = gpuarray.asarray(numpy.ones((64, 64), dtype="float32"), context=ctx)
c = blas.gemm(1.0, m, m, 0.0, gpuarray.zeros((64, 64), dtype="float32", context=ctx))
print("cuBLAS sgemm: %s (expected 64.0)" % numpy.asarray(c)[0, 0])
EOF
"$py" -c 'from dltut.runtime import device; print("preflight:", device.gpu_preflight("cuda"))' 2>&1 | tail -n 3
pygpu_ok() { timeout "$(limit 60)" "$py" "$work/pygpu_check.py" 2>&1 | tail -n 8; }
if ! pygpu_ok; then
  echo "pygpu alone failed without LD_LIBRARY_PATH; again with $venv/lib/dltut-gpu/env.sh sourced:"
  # shellcheck disable=SC1091
  . "$venv/lib/dltut-gpu/env.sh"
  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
  if ! pygpu_ok && compgen -G "$repo/.gpu/nvrtc12/*.whl" >/dev/null; then
    # the system's NVRTC may not suit libgpuarray 0.7.6: try the carried CUDA 12 NVRTC wheel
    step "retrying with NVRTC from $(basename "$(ls "$repo"/.gpu/nvrtc12/*.whl | tail -n 1)")"
    "$py" -m zipfile -e "$(ls "$repo"/.gpu/nvrtc12/*.whl | tail -n 1)" "$work/nvrtc12"
    timeout "$(limit 60)" bash scripts/gpu_setup.sh "${setup_args[@]}" \
      --cuda-lib "$work/nvrtc12/nvidia/cuda_nvrtc/lib" | grep -E 'libnvrtc|OK|NOT READY'
    pygpu_ok || echo "pygpu alone still fails"
  fi
fi

# --- the smoke test ---------------------------------------------------------------------------
step "bench/gpu_smoke.py"
timeout "$(limit 300)" "$py" bench/gpu_smoke.py --device cuda --require-gpu --epochs 2 2>&1 |
  grep -v -E 'compilelock|^WARNING \(theano.tensor.blas\)'
status=${PIPESTATUS[0]}
echo "gpu_smoke exit status: $status"

# --- the real scripts, when there is time ------------------------------------------------------
dataset=()
if [ ! -f data/mnist.pkl.gz ] && [ -f scripts/mlp.py ] && [ "$(left)" -ge 90 ]; then
  step "no data/mnist.pkl.gz: writing synthetic data in MNIST's format (50000/10000/10000 x 784)"
  "$py" - "$work/synthetic-mnist.pkl.gz" <<'EOF'
import gzip, pickle, sys
import numpy
rng = numpy.random.RandomState(0)
prototypes = (rng.rand(10, 784) < 0.3).astype("float32")
def split(n):
    y = rng.randint(0, 10, size=n)
    return (0.5 * prototypes[y] + 0.5 * rng.rand(n, 784)).astype("float32"), y.astype("int64")
with gzip.open(sys.argv[1], "wb", compresslevel=0) as f:
    pickle.dump((split(50000), split(10000), split(10000)), f, protocol=2)
EOF
  dataset=(--dataset "$work/synthetic-mnist.pkl.gz")
fi
for script in mlp convolutional_mlp; do
  if [ ! -f "scripts/$script.py" ]; then
    step "scripts/$script.py: skipped (no such script)"
    continue
  fi
  if [ "$(left)" -lt 75 ]; then
    step "scripts/$script.py: skipped ($(left) s left)"
    continue
  fi
  step "scripts/$script.py --device cuda --n-epochs 1 ${dataset[*]}"
  extra=()
  "$py" "scripts/$script.py" --help 2>/dev/null | grep -q -- --require-gpu && extra+=(--require-gpu)
  timeout "$(limit 150)" "$py" "scripts/$script.py" --device cuda "${extra[@]}" "${dataset[@]}" \
    --n-epochs 1 --out "$work/runs/$script" 2>&1 | grep -v compilelock | tail -n 25
  echo "scripts/$script.py exit status: ${PIPESTATUS[0]}"
done

step "summary"
echo "gpu_check finished in ${SECONDS}s; gpu_smoke exit status $status"
exit "$status"
