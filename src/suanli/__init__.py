"""suanli (算力): an open platform for a city's AI compute market."""

__all__ = ["__version__"]
__version__ = "0.1.0"
