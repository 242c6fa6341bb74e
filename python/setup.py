"""setup.py - installs the adaptive_k package with a copy of libadaptivek.so.0.

The library is taken from ADAPTIVEK_LIB (a path to libadaptivek.so.0) or from the project's
CMake build (../build/src/router/); build it first: cmake -S . -B build && cmake --build build.
Offline on Debian 12, inside a venv made with --system-site-packages (NumPy and PyTorch from
Debian's python3-numpy and python3-torch): pip install ./python (docs/python.md)."""
import os
import shutil

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def find_library():
    path = os.environ.get("ADAPTIVEK_LIB") or os.path.join(HERE, "..", "build", "src", "router", "libadaptivek.so.0")
    if not os.path.exists(path):
        raise SystemExit("adaptive_k: %s not found; build libadaptivek first (cmake -S . -B build && "
                         "cmake --build build --target adaptivek_shared) or set ADAPTIVEK_LIB" % path)
    return path


class BuildWithLibrary(build_py):
    def run(self):
        super().run()
        dest = os.path.join(self.build_lib, "adaptive_k", "libadaptivek.so.0")
        shutil.copyfile(find_library(), dest)


class BinaryDistribution(Distribution):
    """The package carries a compiled library: its wheel is tagged for this platform."""

    def has_ext_modules(self):
        return True


setup(name="adaptive_k", version="0.1.0",
      description="Adaptive top-k routing for Mixture-of-Experts models (binding to libadaptivek)",
      packages=["adaptive_k"], python_requires=">=3.9", install_requires=["numpy"],
      extras_require={"torch": ["torch"]}, cmdclass={"build_py": BuildWithLibrary},
      distclass=BinaryDistribution, zip_safe=False)
