"""The installed version of clipscale."""

__version__ = "0.1.0"
