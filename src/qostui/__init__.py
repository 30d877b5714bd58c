"""qostui: a terminal app for network Quality of Service."""

__version__ = "0.1.0"
