"""The package version (read by hatchling and by ``tracker.__version__``)."""

__version__ = "0.1.0"
