#!/usr/bin/env bash
# Prepare Theano's GPU backend (gpuarray) for dltut's virtual environment.   `make gpu-setup`
#
# On a Debian/Ubuntu machine with an NVIDIA GPU and driver, this:
#   1. fetches Debian 12's python3-pygpu, libgpuarray3 and libgpuarray-dev 0.7.6 (built for
#      Python 3.11) with `apt-get download` -- no root, nothing installed system-wide -- and
#      unpacks them with `dpkg -x` into <venv>/lib/dltut-gpu/root, without Debian's numpy;
#   2. exposes them to the venv: a .pth file for pygpu, <venv>/include/gpuarray and
#      <venv>/lib/libgpuarray.so* (Theano looks in sys.exec_prefix/{include,lib} when it
#      compiles its GPU ops);
#   3. links the CUDA libraries that libgpuarray opens by their unversioned names (libcuda.so,
#      libnvrtc.so, libcublas.so) into <venv>/lib/dltut-cuda, taking them from the venv's pip
#      packages, DLTUT_CUDA_LIB_DIRS, the CUDA toolkit or the loader cache, and installing
#      nvidia-cuda-nvrtc-cu12 and nvidia-cublas-cu12 with pip when none is found;
#   4. points pygpu's and libgpuarray's RUNPATH at <venv>/lib/dltut-cuda (patchelf), so that
#      no LD_LIBRARY_PATH is needed, and still writes <venv>/lib/dltut-gpu/env.sh for shells
#      that want one;
#   5. prints the Theano flags to use and runs dltut's GPU preflight.
#
# On Python 3.12 and 3.13 (Debian's pygpu is built for 3.11 only, and pygpu is not on PyPI),
# step 2 builds pygpu from libgpuarray v0.7.6's sources instead (scripts/build_pygpu.sh:
# downloaded from GitHub, or the unpacked release given with --pygpu-src DIR; Cython 3 and
# the venv's numpy, against the libgpuarray of step 1) into <venv>/lib/dltut-gpu/pygpu-X.Y.
#
# With --opencl (`make gpu-setup DEVICE=opencl`), for an OpenCL device instead -- e.g. the CPU
# itself through Debian's pocl -- steps 0 and 3 differ and nothing of CUDA is touched:
#   0. Debian's OpenCL packages (OPENCL_PACKAGES below: pocl's CPU device, the ICD loader and
#      its unversioned libOpenCL.so, clinfo, CLBlast) are installed with apt-get when run as
#      root, else the script says in one line what to install, and goes on;
#   3. links libclblast.so (libgpuarray opens CLBlast by that name; Debian's libclblast1 has
#      only libclblast.so.1) into <venv>/lib/dltut-cuda, the folder pygpu's RUNPATH names.
#
# Idempotent: run it again after a driver or CUDA update.  Options:
#   --venv DIR        the virtual environment (default: $VENV, else <repo>/.venv)
#   --cache DIR       where downloaded .deb files are kept (default: <repo>/.gpu)
#   --offline         use only the .deb files already in <cache>/debs and no pip
#   --cuda-lib DIR    also look for the CUDA libraries in DIR (repeatable; searched first)
#   --opencl          set up for an OpenCL device (opencl0:0) instead of CUDA
#   --pygpu-src DIR   Python 3.12/3.13: build pygpu from libgpuarray v0.7.6's sources in DIR
#                     instead of downloading them
# See docs/gpu.md and docs/opencl.md.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${VENV:-$repo/.venv}
cache=$repo/.gpu
offline=0
opencl=0
pygpu_src=
extra_dirs=()
OPENCL_PACKAGES=(pocl-opencl-icd ocl-icd-libopencl1 ocl-icd-opencl-dev clinfo libclblast1)
IFS=: read -r -a env_dirs <<<"${DLTUT_CUDA_LIB_DIRS:-}"
for d in "${env_dirs[@]}"; do [ -n "$d" ] && extra_dirs+=("$d"); done

while [ $# -gt 0 ]; do
  case $1 in
    --venv) venv=$2; shift 2 ;;
    --cache) cache=$2; shift 2 ;;
    --offline) offline=1; shift ;;
    --cuda-lib) extra_dirs+=("$2"); shift 2 ;;
    --opencl) opencl=1; shift ;;
    --pygpu-src) pygpu_src=$2; shift 2 ;;
    -h|--help) sed -n '2,45p' "$0"; exit 0 ;;
    *) echo "gpu_setup: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

say() { echo "gpu_setup: $*"; }
die() { echo "gpu_setup: error: $*" >&2; exit 1; }

venv=$(cd "$venv" 2>/dev/null && pwd) || die "no virtual environment at ${venv} (make venv first)"
py=$venv/bin/python
[ -x "$py" ] || die "$py not found: is $venv a virtual environment?"

# --- the venv must match what Debian's pygpu was built for -------------------------------
read -r pyver numpy_major site < <("$py" - <<'EOF'
import sys, sysconfig
try:
    import numpy
    major = numpy.__version__.split(".")[0]
except ImportError:
    major = "none"
print("%d.%d" % sys.version_info[:2], major, sysconfig.get_paths()["platlib"])
EOF
)
case $pyver in
  3.11)
    [ "$numpy_major" = "1" ] || die "the venv has numpy major version '$numpy_major'; pygpu 0.7.6 (Debian's, built for Python 3.11) needs numpy 1.x (the project uses 1.26.4 on Python 3.11)"
    ;;
  3.12|3.13) ;;   # pygpu built from its sources, against this venv's numpy (step 2)
  *) die "the venv runs Python $pyver; dltut supports 3.11 (Debian's pygpu), 3.12 and 3.13 (pygpu built from its sources)" ;;
esac
say "venv $venv (Python $pyver), site-packages $site"

gpu=$venv/lib/dltut-gpu
cudadir=$venv/lib/dltut-cuda
mkdir -p "$cache/debs" "$gpu" "$cudadir"

# --- 0. (--opencl) Debian's OpenCL packages -------------------------------------------------
if [ $opencl = 1 ]; then
  absent=()
  for p in "${OPENCL_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || absent+=("$p")
  done
  if [ ${#absent[@]} -eq 0 ]; then
    say "OpenCL packages present: ${OPENCL_PACKAGES[*]}"
  elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && [ $offline = 0 ]; then
    say "installing ${absent[*]} (apt-get)"
    apt-get install -y -q "${absent[@]}" >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q "${absent[@]}" >/dev/null 2>&1; } \
      || die "apt-get install ${absent[*]} failed"
  else
    say "OpenCL packages missing: install them with: sudo apt-get install -y ${absent[*]}"
  fi
fi

# --- 1. the Debian packages ---------------------------------------------------------------
need=(python3-pygpu libgpuarray3 libgpuarray-dev)
have_patchelf=$(command -v patchelf || true)
[ -n "$have_patchelf" ] || need+=(patchelf)
missing=()
for p in "${need[@]}"; do
  compgen -G "$cache/debs/${p}_*.deb" >/dev/null || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ $offline = 0 ] || die "--offline, but $cache/debs lacks: ${missing[*]}"
  command -v apt-get >/dev/null || die "apt-get not found: this script needs a Debian/Ubuntu machine (or --offline with the .deb files in $cache/debs)"
  say "downloading ${missing[*]} (apt-get download; nothing is installed system-wide)"
  (cd "$cache/debs" && apt-get download "${missing[@]}" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
  for p in "${missing[@]}"; do
    compgen -G "$cache/debs/${p}_*.deb" >/dev/null || die "apt-get download $p failed: on Ubuntu enable 'universe'; elsewhere fetch Debian 12's ${p} 0.7.6 .deb into $cache/debs and use --offline"
  done
fi
stamp=$(cd "$cache/debs" && ls python3-pygpu_*.deb libgpuarray3_*.deb libgpuarray-dev_*.deb | tr '\n' ' ')
if [ "$(cat "$gpu/.stamp" 2>/dev/null || true)" != "$stamp" ]; then
  rm -rf "$gpu/root"
  mkdir -p "$gpu/root"
  for p in python3-pygpu libgpuarray3 libgpuarray-dev; do
    dpkg -x "$(ls "$cache/debs/${p}"_*.deb | tail -n 1)" "$gpu/root"
  done
  rm -rf "$gpu/root/usr/lib/python3/dist-packages/pygpu/tests"
  echo "$stamp" >"$gpu/.stamp"
  say "unpacked $stamp into $gpu/root"
fi
if [ -z "$have_patchelf" ]; then
  mkdir -p "$gpu/patchelf"
  dpkg -x "$(ls "$cache/debs"/patchelf_*.deb | tail -n 1)" "$gpu/patchelf"
  have_patchelf=$gpu/patchelf/usr/bin/patchelf
fi

# --- 2. expose pygpu and libgpuarray to the venv ------------------------------------------
root=$gpu/root
if [ "$pyver" = "3.11" ]; then
  pygpu_dir=$root/usr/lib/python3/dist-packages
else
  pygpu_dir=$gpu/pygpu-$pyver
  built_from=$(cat "$pygpu_dir/.stamp" 2>/dev/null || true)
  if [ ! -d "$pygpu_dir/pygpu" ] || [ "$built_from" != "$stamp" ]; then
    build_args=(--venv "$venv" --libgpuarray "$root" --out "$pygpu_dir")
    [ -n "$pygpu_src" ] && build_args+=(--pygpu-src "$pygpu_src")
    [ $offline = 1 ] && build_args+=(--offline)
    bash "$repo/scripts/build_pygpu.sh" "${build_args[@]}" || die "pygpu could not be built for Python $pyver (see above)"
    echo "$stamp" >"$pygpu_dir/.stamp"
  fi
fi
echo "$pygpu_dir" >"$site/dltut-pygpu.pth"
mkdir -p "$venv/include"
ln -sfn "$root/usr/include/gpuarray" "$venv/include/gpuarray"
libga=
for f in "$root"/usr/lib/libgpuarray.so.3.* "$root"/usr/lib/*/libgpuarray.so.3.*; do
  [ -f "$f" ] && { libga=$f; break; }
done
[ -n "$libga" ] || die "libgpuarray.so.3.* not found in the unpacked packages"
for name in libgpuarray.so libgpuarray.so.3; do
  ln -sfn "$libga" "$venv/lib/$name"
  ln -sfn "$libga" "$cudadir/$name"
done
if ! "$py" -c "import mako" 2>/dev/null; then
  if [ $offline = 1 ] && compgen -G "$cache/wheels/*.whl" >/dev/null; then
    "$py" -m pip install -q --no-index --find-links "$cache/wheels" mako
  elif [ $offline = 0 ]; then
    say "installing mako (pygpu imports it)"
    "$py" -m pip install -q mako
  else
    die "pygpu needs mako: pip install mako"
  fi
fi

# --- 3. the CUDA libraries (with --opencl: CLBlast) ---------------------------------------------
# find_lib STEM: print the path of the newest STEM.so.N found in the search dirs, else nothing
search_dirs() {
  printf '%s\n' "${extra_dirs[@]}"
  ls -d "$site"/nvidia/*/lib 2>/dev/null || true
  for d in "${CUDA_HOME:-}" "${CUDA_PATH:-}" /usr/local/cuda; do
    [ -n "$d" ] && printf '%s\n' "$d/lib64" "$d/targets/x86_64-linux/lib"
  done
  printf '%s\n' /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/lib/x86_64-linux-gnu /usr/lib/wsl/lib
}
find_lib() {
  local stem=$1 d f
  while read -r d; do
    [ -n "$d" ] && [ -d "$d" ] || continue
    f=$(ls "$d/$stem".so.[0-9]* 2>/dev/null | sort -V | tail -n 1 || true)
    [ -n "$f" ] && { echo "$f"; return; }
  done < <(search_dirs)
  f=$( (ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null || true) |
       awk -v s="$stem.so." 'index($1, s) == 1 {print $NF}' | sort -V | tail -n 1 || true)
  [ -n "$f" ] && echo "$f"
  return 0
}
real_dirs=()
if [ $opencl = 1 ]; then
  clblast=$(find_lib libclblast)
  if [ -n "$clblast" ]; then
    ln -sfn "$clblast" "$cudadir/libclblast.so"
    say "libclblast.so -> $clblast"
  else
    rm -f "$cudadir/libclblast.so"
    say "WARNING: no libclblast.so.N found: apt-get install libclblast1 (matrix products need it)"
  fi
else
  nvrtc=$(find_lib libnvrtc)
  cublas=$(find_lib libcublas)
  if { [ -z "$nvrtc" ] || [ -z "$cublas" ]; } && [ $offline = 0 ]; then
    say "CUDA's NVRTC or cuBLAS not found: installing nvidia-cuda-nvrtc-cu12 nvidia-cublas-cu12 into the venv"
    "$py" -m pip install -q nvidia-cuda-nvrtc-cu12 nvidia-cublas-cu12
    nvrtc=$(find_lib libnvrtc)
    cublas=$(find_lib libcublas)
  fi
  libcuda=$(find_lib libcuda)

  link_family() {  # link_family UNVERSIONED_NAME PATH: NAME -> PATH, plus PATH's siblings
    local name=$1 path=$2 dir f
    dir=$(dirname "$path")
    ln -sfn "$path" "$cudadir/$name"
    for f in "$dir/${name%.so}"*.so.*; do   # e.g. libnvrtc-builtins.so.12.4, libcublasLt.so.12
      [ -e "$f" ] && ln -sfn "$f" "$cudadir/$(basename "$f")"
    done
    say "$name -> $path"
  }
  for pair in "libcuda.so:$libcuda" "libnvrtc.so:$nvrtc" "libcublas.so:$cublas"; do
    name=${pair%%:*}; path=${pair#*:}
    if [ -z "$path" ]; then
      rm -f "$cudadir/$name"
      case $name in
        libcuda.so) say "WARNING: no libcuda.so.1 found: install the NVIDIA driver (nvidia-smi must work)";;
        *) say "WARNING: no ${name%.so}.so.N found: pip install nvidia-cuda-nvrtc-cu12 nvidia-cublas-cu12 (or pass --cuda-lib DIR)";;
      esac
      continue
    fi
    link_family "$name" "$path"
    [ "$name" = libcuda.so ] || real_dirs+=("$(dirname "$path")")
  done
fi

# --- 4. RUNPATH and the env file --------------------------------------------------------------
for f in "$libga" "$pygpu_dir"/pygpu/*.so; do
  "$have_patchelf" --set-rpath "$cudadir" "$f"
done
ld_path=$cudadir
for d in "${real_dirs[@]}"; do
  case ":$ld_path:" in *":$d:"*) ;; *) ld_path=$ld_path:$d ;; esac
done
if [ $opencl = 1 ]; then
  flags="device=opencl0:0,floatX=float32"
else
  flags="device=cuda,floatX=float32,dnn.enabled=False"
fi
cat >"$gpu/env.sh" <<EOF
# Written by scripts/gpu_setup.sh.  Optional: the venv finds its GPU libraries without it
# (RUNPATH); source it where a CUDA library loads others by name (e.g. NVRTC's builtins).
case ":\${LD_LIBRARY_PATH:-}:" in
  *":$cudadir:"*) ;;
  *) export LD_LIBRARY_PATH="$ld_path\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" ;;
esac
# Theano flags for the GPU (the scripts' --device cuda adds the same ones):
export DLTUT_GPU_THEANO_FLAGS="$flags"
EOF
say "wrote $gpu/env.sh"

# --- 5. report --------------------------------------------------------------------------------
echo
say "Theano flags for the GPU: THEANO_FLAGS=$flags"
if [ $opencl = 1 ]; then
  say "  (or a script's --device opencl0:0, which adds floatX=float32 unless you set it)"
  target=opencl0:0
else
  say "  (or a script's --device cuda, which adds them unless you set floatX / dnn.enabled)"
  target=cuda
fi
say "preflight:"
PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}" "$py" - "$target" <<'EOF'
import sys
from dltut.runtime import device
ok, reason = device.gpu_preflight(sys.argv[1])
print("  %s: %s" % ("OK" if ok else "NOT READY", reason))
EOF
