"""xnai: private, local Wyoming voice services for Home Assistant."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("wyoming-xnai")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0"
