"""Lab tests get the `lab` fixture (defined in netlab.py so other test directories can import it)."""

from lab.netlab import lab_fixture  # noqa: F401  (registers the `lab` fixture)
