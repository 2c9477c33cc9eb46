"""dltut: the classic Theano deep learning tutorials as an installable, tested package.

Theano 1.0.5 is the last Theano release.  dltut runs it on Python 3.11 and 3.12 with
numpy 1.26.4, and on Python 3.13 with numpy 2 (3.13 has no numpy 1.x), through its
compatibility layer (dltut/compat).  Theano's own setup.py does not run on Python 3.12+;
the Makefile installs it first (see docs/guide/setup.md).
"""
import importlib.util
import os

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py
from setuptools.command.develop import develop
try:
    from setuptools.command.editable_wheel import editable_wheel
except ImportError:     # setuptools < 64: `setup.py develop`, no editable wheel
    editable_wheel = None

HERE = os.path.dirname(os.path.abspath(__file__))


def _startup():
    """dltut/compat/startup.py, loaded by path (importing dltut itself is not needed)."""
    spec = importlib.util.spec_from_file_location(
        "dltut_compat_startup", os.path.join(HERE, "dltut", "compat", "startup.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write_startup_files(folder):
    """Write ``dltut-startup.pth`` into ``folder``, the top of a wheel (site-packages)."""
    for name, content in _startup().files().items():
        with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
            f.write(content)


class BuildPyWithStartupHook(build_py):
    """Also put ``dltut-startup.pth`` at the top of the build, i.e. into site-packages.

    (An editable install's build_py builds nothing: EditableWheelWithStartupHook writes the
    file there.)
    """

    def run(self):
        super().run()
        if not getattr(self, "editable_mode", False):
            _write_startup_files(self.build_lib)

    def get_outputs(self, include_bytecode=1):
        outputs = super().get_outputs(include_bytecode)
        if getattr(self, "editable_mode", False):
            return outputs
        return outputs + [os.path.join(self.build_lib, name) for name in _startup().files()]


class EditableWheelWithStartupHook(editable_wheel or object):
    """``pip install -e .`` (setuptools >= 64 builds an editable wheel): the wheel carries
    ``dltut-startup.pth`` at its top as a regular wheel does, so that pip installs it into
    site-packages (and removes it on uninstall).

    setuptools offers no public step for a file outside the packages of an editable wheel;
    ``_run_build_commands(name, unpacked_wheel, ...)`` is where it builds the wheel's
    unpacked folder (setuptools 64 to 80).  tests/test_setup.py installs dltut editable
    and imports Theano first, so a setuptools that changes this fails a test.
    """

    def _run_build_commands(self, dist_name, unpacked_wheel, build_lib, tmp_dir):
        result = super()._run_build_commands(dist_name, unpacked_wheel, build_lib, tmp_dir)
        _write_startup_files(str(unpacked_wheel))
        return result


class DevelopWithStartupHook(develop):
    """``setup.py develop``, which pip runs for ``pip install -e .`` where setuptools < 80 is
    importable (Python 3.11's venvs bring 65.5) and there is no pyproject.toml: the same
    file into the folder it installs into (setuptools >= 80 hands develop to pip's
    editable wheel, EditableWheelWithStartupHook; ``install_dir`` is then unset)."""

    def run(self):
        super().run()
        install_dir = getattr(self, "install_dir", None)
        if not install_dir:
            return
        if getattr(self, "uninstall", False):
            _startup().remove(install_dir)
        else:
            _write_startup_files(install_dir)


CMDCLASS = {"build_py": BuildPyWithStartupHook, "develop": DevelopWithStartupHook}
if editable_wheel is not None:
    CMDCLASS["editable_wheel"] = EditableWheelWithStartupHook


setup(
    name="dltut",
    version="0.2.0",
    description="The Theano deep learning tutorials (logistic regression, MLP, LeNet) as a tested package",
    long_description=open(os.path.join(HERE, "README.md"), encoding="utf-8").read()
    if os.path.exists(os.path.join(HERE, "README.md")) else "",
    long_description_content_type="text/markdown",
    packages=find_packages(include=["dltut", "dltut.*"]),
    # the C++ of dltut.ops.conv is read at import from the file beside the module
    package_data={"dltut.compat": ["include/numpy/*.h"], "dltut.ops": ["*.cpp"]},
    cmdclass=CMDCLASS,
    python_requires=">=3.11,<3.14",
    install_requires=[
        "Theano==1.0.5",
        # one numpy for 3.11 and 3.12; 3.13 has only numpy 2 (dltut.compat.numpy2)
        'numpy==1.26.4; python_version < "3.13"',
        'numpy==2.2.6; python_version >= "3.13"',
        'contourpy<1.4; python_version < "3.13"',  # matplotlib's; 1.4 wants numpy >= 2
        "scipy<1.16",
        "setuptools<81",   # distutils on 3.12+ and pkg_resources, both for Theano
        "Pillow",
        "matplotlib<3.11",
        "tqdm>=4.66,<5",   # the progress bar in notebooks (dltut.notebook)
    ],
    extras_require={
        # test: nbclient + ipykernel execute the notebooks and JupyterLab is started once
        # (tests/test_notebooks.py); Dask runs the search's cluster tests; music21 and mido
        # the chorale and MIDI tests (tests/recurrent/)
        "test": ["pytest", "nbclient>=0.10,<0.12", "ipykernel>=6.29,<8", "jupyterlab>=4.2,<4.7",
                 "dask[distributed]==2026.8.0", "music21>=9,<11", "mido>=1.3,<2"],
        # scripts/search.py --scheduler: trials on a Dask distributed cluster (the releases
        # need no numpy; checked beside numpy 1.26.4 on 3.11 and numpy 2.2.6 on 3.13)
        "dask": ["dask[distributed]==2026.8.0"],
        # `make notebook`: JupyterLab and the kernel, versions that install beside numpy
        # 1.26.4 on 3.11/3.12 and numpy 2.2.6 on 3.13
        "notebook": ["jupyterlab>=4.2,<4.7", "ipykernel>=6.29,<8", "nbclient>=0.10,<0.12"],
        # the RNN-RBM's data (dltut.datasets.jsb): music21 ships Bach's chorales as MusicXML
        # (python -m dltut.data fetch jsb); mido reads and writes MIDI files
        "music": ["music21>=9,<11", "mido>=1.3,<2"],
        # Intel MKL: a BLAS that recognises new CPUs; 1.4-1.7x faster than OpenBLAS on the
        # MLP's small matrix products (about 0.9 GB installed). dltut links it when present.
        "fast": ["mkl==2026.2.0"],
        # `make docs`: the site in docs/ (Sphinx, MyST markdown, the notebooks with their saved
        # outputs, the Furo theme, MathJax 3 from a package: nothing loaded from the net) and
        # Playwright for Python, which drives Debian's chromium for the site's browser test
        # and `make docs-screenshot` (no browser download). Resolved on 3.11 (Sphinx 9.0),
        # 3.12 (9.1) and 3.13 (9.2).
        "docs": ["sphinx>=7.2", "myst-parser>=2", "myst-nb>=1.0", "furo>=2024.1.29",
                 "sphinx-mathjax-offline>=0.0.2", "playwright>=1.40"],
        # the CPU benchmark's peer (bench/bench_cpu.py), never needed by dltut itself
        "bench": ["torch==2.13.0"],
    },
)
