#!/usr/bin/env bash
# Build pygpu 0.7.6 (libgpuarray's Python binding) for a venv whose Python is not Debian's.
#
#   scripts/build_pygpu.sh --venv DIR --libgpuarray ROOT --out DIR [--pygpu-src DIR] [--offline]
#
# Debian 12 ships pygpu 0.7.6 built for Python 3.11 only, and pygpu is not on PyPI.
# scripts/gpu_setup.sh calls this for Python 3.12 and 3.13: it takes libgpuarray v0.7.6's
# sources (a folder given with --pygpu-src, or the release archive downloaded from GitHub,
# never a copy in this repository), makes the three changes today's Python needs, and builds
# the four extension modules with Cython 3 against the libgpuarray headers and library
# unpacked from Debian's packages (ROOT/usr/include, ROOT/usr/lib):
#   - Cython 3 reads .pyx files as Python 3 by default; pygpu's are Python 2 style, so the
#     build asks for language_level 2;
#   - versioneer.py uses configparser.SafeConfigParser and readfp, removed in Python 3.12
#     (ConfigParser and read_file are the same calls);
#   - pygpu/dtypes.py registers numpy.bool, removed in numpy 1.24 (numpy.bool_ is that type).
# The result is DIR/pygpu (the package with its .so files) for a .pth file to point at.
# It builds with the venv's own numpy (1.26.4 on 3.12, 2.2.6 on 3.13), so the modules match it;
# Cython, setuptools, six and mako are installed into the venv if missing (pygpu imports six
# and mako at run time).
set -euo pipefail

say() { echo "build_pygpu: $*"; }
die() { echo "build_pygpu: error: $*" >&2; exit 1; }

VERSION=0.7.6
URL=https://github.com/Theano/libgpuarray/archive/refs/tags/v$VERSION.tar.gz
venv= root= out= src= offline=0
while [ $# -gt 0 ]; do
  case $1 in
    --venv) venv=$2; shift 2 ;;
    --libgpuarray) root=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --pygpu-src) src=$2; shift 2 ;;
    --offline) offline=1; shift ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) die "unknown argument '$1'; see --help" ;;
  esac
done
[ -n "$venv" ] && [ -n "$root" ] && [ -n "$out" ] || die "--venv, --libgpuarray and --out are required; see --help"
py=$venv/bin/python
[ -x "$py" ] || die "$py not found: is $venv a virtual environment?"
[ -f "$root/usr/include/gpuarray/array.h" ] || die "$root/usr/include/gpuarray/array.h not found: unpack Debian's libgpuarray-dev $VERSION there (scripts/gpu_setup.sh does)"
libdir=$(dirname "$(ls "$root"/usr/lib/libgpuarray.so "$root"/usr/lib/*/libgpuarray.so 2>/dev/null | head -n 1)")
[ -f "$libdir/libgpuarray.so" ] || die "libgpuarray.so not found under $root/usr/lib: unpack Debian's libgpuarray-dev $VERSION there"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ -n "$src" ]; then
  [ -f "$src/setup.py" ] && [ -d "$src/pygpu" ] || die "--pygpu-src $src is not libgpuarray's source folder (it needs setup.py and pygpu/); give the unpacked v$VERSION release"
  cp -r "$src" "$work/src"
else
  [ $offline = 0 ] || die "--offline needs --pygpu-src DIR (libgpuarray v$VERSION's unpacked sources)"
  say "downloading libgpuarray v$VERSION's sources from $URL"
  "$py" - "$URL" "$work/src.tar.gz" <<'EOF' || die "download failed: fetch $URL on a machine with internet, unpack it and pass --pygpu-src DIR"
import sys, urllib.request
try:
    urllib.request.urlretrieve(sys.argv[1], sys.argv[2])
except OSError as error:   # URLError, HTTPError, a full disk: the reason, then the line below
    print("build_pygpu: %s" % (getattr(error, "reason", None) or error), file=sys.stderr)
    sys.exit(1)
EOF
  mkdir "$work/src"
  tar -xzf "$work/src.tar.gz" -C "$work/src" --strip-components=1
fi
cd "$work/src"
grep -q "SafeConfigParser\|ConfigParser" versioneer.py && [ -f pygpu/gpuarray.pyx ] || die "the sources do not look like libgpuarray v$VERSION (versioneer.py, pygpu/gpuarray.pyx)"

# the three changes (idempotent: sources already changed stay as they are)
sed -i 's/configparser\.SafeConfigParser()/configparser.ConfigParser()/; s/parser\.readfp(f)/parser.read_file(f)/' versioneer.py
sed -i 's/register_dtype(np\.bool, /register_dtype(np.bool_, /' pygpu/dtypes.py
sed -i 's/ext_modules=cythonize(exts)/ext_modules=cythonize(exts, compiler_directives={"language_level": "2"})/' setup.py
grep -q 'language_level' setup.py || die "setup.py's cythonize call was not found: are these v$VERSION's sources?"
# versioneer reads the version from git or from the archive's export-subst; a plain copy
# of the sources has neither, so the version is written in
sed -i "s/^    version=versioneer.get_version(),/    version='$VERSION',/" setup.py

missing=$("$py" - <<'EOF'
import importlib.util
need = {"Cython": "cython>=3", "setuptools": "setuptools", "six": "six", "mako": "mako"}
print(" ".join(v for k, v in need.items() if importlib.util.find_spec(k) is None))
EOF
)
if [ -n "$missing" ]; then
  [ $offline = 0 ] || die "--offline, but the venv lacks: $missing"
  say "installing $missing into the venv"
  "$py" -m pip install -q $missing
fi
"$py" -c 'import Cython, sys; sys.exit(0 if int(Cython.__version__.split(".")[0]) >= 3 else 1)' \
  || die "Cython 3 is needed: $py -m pip install 'cython>=3'"

say "building pygpu $VERSION for $("$py" -c 'import sys, numpy; print("Python %d.%d, numpy %s" % (sys.version_info[:2] + (numpy.__version__,)))')"
CFLAGS="-I$root/usr/include ${CFLAGS:-}" LDFLAGS="-L$libdir ${LDFLAGS:-}" \
  "$py" setup.py -q build_ext --inplace >"$work/build.log" 2>&1 \
  || { tail -n 30 "$work/build.log" >&2; die "the build failed (the end of its log is above)"; }
rm -rf pygpu/tests
mkdir -p "$out"
rm -rf "$out/pygpu"
cp -r pygpu "$out/pygpu"
find "$out/pygpu" -name '*.c' -delete   # the headers stay: Theano compiles against gpuarray_api.h
"$py" -W ignore -m compileall -q "$out/pygpu" >/dev/null || true   # compiled now: its regex strings warn when compiled at import on 3.12+
say "pygpu $VERSION in $out/pygpu"
