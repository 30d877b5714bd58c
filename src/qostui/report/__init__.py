"""Analytic plots: one data function per plot (data.py), drawn as PNG (png.py, matplotlib) and as
terminal text (terminal.py, plotext) from the same objects; markdown.py writes report.md.

Importing this package is cheap: matplotlib and plotext are imported only when something is drawn.
"""
