"""dltut: the classic Theano deep learning tutorials as an installable, tested package.

Theano 1.0.5 is the last Theano release and needs numpy < 1.24 (numpy 1.24 removed the
aliases it uses) and Python < 3.12 (3.12 removed modules it imports), hence the pins.
"""
from setuptools import find_packages, setup

setup(
    name="dltut",
    version="0.1.0",
    description="The Theano deep learning tutorials (logistic regression, MLP, LeNet) as a tested package",
    long_description=open("README.md", encoding="utf-8").read() if __import__("os").path.exists("README.md") else "",
    long_description_content_type="text/markdown",
    packages=find_packages(include=["dltut", "dltut.*"]),
    python_requires=">=3.8,<3.12",
    install_requires=[
        "Theano==1.0.5",
        "numpy==1.23.5",   # numpy >= 1.24 breaks Theano 1.0.5
        "scipy<1.16",      # Theano's sparse and linalg modules; the last scipy for numpy 1.23
        "Pillow",
        "matplotlib<3.11",
    ],
    extras_require={
        "test": ["pytest"],
        # Intel MKL: a BLAS that recognises new CPUs; 1.4-1.7x faster than OpenBLAS on the
        # MLP's small matrix products (about 0.9 GB installed). dltut links it when present.
        "fast": ["mkl==2026.2.0"],
        # the CPU benchmark's peer (bench/bench_cpu.py), never needed by dltut itself
        "bench": ["torch==2.13.0", "setuptools>=77.0.3,<81"],  # 81+ drops pkg_resources, which Theano needs
    },
)
