"""suandian (算电): the energy-carbon brain of a green compute park."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("suandian")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["__version__"]
