"""together-server: a self-hosted, Discord-style chat daemon."""

__version__ = "0.1.0"
