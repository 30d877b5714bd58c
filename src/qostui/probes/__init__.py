"""Probes: ICMP echo (fping-style, one socket per family), TCP connect, and their statistics.

    from qostui.probes import PingProber
    prober = PingProber(config)      # config.targets, config.effective_probe()
    rounds = prober.run_round()      # blocking; one PingRound per target, in config order
    prober.close()
"""

from qostui.probes.icmp import PERMISSION_HELP
from qostui.probes.prober import PingProber

__all__ = ["PERMISSION_HELP", "PingProber"]
