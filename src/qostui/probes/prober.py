"""PingProber: one blocking round of probes to every configured target -> one PingRound each."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from qostui.config import Config, TargetConfig
from qostui.probes.common import Outcome
from qostui.probes.icmp import PERMISSION_HELP, IcmpEngine, IcmpJob, IcmpPermissionError
from qostui.probes.resolve import Resolution, Resolver
from qostui.probes.stats import build_round, failed_round
from qostui.probes.tcp import TcpEngine, TcpJob
from qostui.records import PingRound, ProbeState

log = logging.getLogger(__name__)

__all__ = ["PingProber"]


@dataclass
class _Plan:
    target: TargetConfig
    resolution: Resolution
    method: str  # "icmp" | "tcp"
    port: int = 0
    failed: PingRound | None = None


class PingProber:
    """Probes every target of `config` once per run_round() call.

    run_round() sends `count` probes to every target concurrently (all targets interleaved on one
    ICMP socket per address family, TCP targets on one selector in a second thread), waits until
    every reply is in or has timed out, and returns one PingRound per target in config order.
    """

    def __init__(
        self,
        config: Config,
        *,
        icmp_engine: IcmpEngine | None = None,
        tcp_engine: TcpEngine | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        self.config = config
        self.targets = tuple(config.targets)
        self.probe_config = config.effective_probe()
        self.icmp = icmp_engine if icmp_engine is not None else IcmpEngine()
        self.tcp = tcp_engine if tcp_engine is not None else TcpEngine()
        self.resolver = resolver if resolver is not None else Resolver(self.probe_config.resolve_retry_s)
        self._permission_logged = False
        self._closed = False

    # --- planning -------------------------------------------------------------------------
    def _plan(self, ts: float) -> list[_Plan]:
        p = self.probe_config
        resolved = self.resolver.resolve_all(t.address for t in self.targets)
        plans = []
        for t in self.targets:
            res = resolved[t.address]
            method = t.probe or p.method
            port = t.tcp_port or p.tcp_port
            plan = _Plan(t, res, "tcp" if method == "tcp" else "icmp", port)
            if not res.ok:
                plan.failed = failed_round(
                    ts=ts, target=t.label, address="", probe=plan.method,
                    state=ProbeState.UNRESOLVED, error=res.error,
                )
            elif plan.method == "icmp":
                err = self.icmp.check(res.family)
                if isinstance(err, IcmpPermissionError):
                    self._log_permission()
                    if method == "auto":
                        plan.method = "tcp"
                    else:
                        plan.failed = failed_round(
                            ts=ts, target=t.label, address=res.address, probe="icmp",
                            state=ProbeState.NO_PERMISSION, error=PERMISSION_HELP,
                        )
                elif err is not None:
                    plan.failed = failed_round(
                        ts=ts, target=t.label, address=res.address, probe="icmp",
                        state=ProbeState.ERROR, error=f"cannot open an ICMP socket: {err.strerror or err}",
                    )
            plans.append(plan)
        return plans

    def _log_permission(self) -> None:
        if not self._permission_logged:
            self._permission_logged = True
            log.warning("%s", PERMISSION_HELP)

    # --- one round ------------------------------------------------------------------------
    def run_round(self) -> list[PingRound]:
        if self._closed:
            raise RuntimeError("PingProber is closed")
        ts = time.time()
        p = self.probe_config
        plans = self._plan(ts)
        icmp_idx = [k for k, pl in enumerate(plans) if pl.failed is None and pl.method == "icmp"]
        tcp_idx = [k for k, pl in enumerate(plans) if pl.failed is None and pl.method == "tcp"]
        outcomes: dict[int, Outcome] = {}

        def run_tcp() -> None:
            jobs = [TcpJob(plans[k].resolution.family, plans[k].resolution.address, plans[k].port) for k in tcp_idx]
            res = self.tcp.ping(jobs, count=p.count, spacing_ms=p.spacing_ms, timeout_ms=p.timeout_ms)
            outcomes.update(zip(tcp_idx, res, strict=True))

        tcp_thread = None
        tcp_error: list[BaseException] = []
        if tcp_idx and icmp_idx:

            def guarded() -> None:
                try:
                    run_tcp()
                except BaseException as exc:  # re-raised in the calling thread
                    tcp_error.append(exc)

            tcp_thread = threading.Thread(target=guarded, name="probe-tcp", daemon=True)
            tcp_thread.start()
        elif tcp_idx:
            run_tcp()
        if icmp_idx:
            jobs = [IcmpJob(plans[k].resolution.family, plans[k].resolution.address) for k in icmp_idx]
            res = self.icmp.ping(
                jobs, count=p.count, spacing_ms=p.spacing_ms, timeout_ms=p.timeout_ms, payload_bytes=p.payload_bytes
            )
            outcomes.update(zip(icmp_idx, res, strict=True))
        if tcp_thread is not None:
            tcp_thread.join()
            if tcp_error:
                raise tcp_error[0]

        rounds = []
        for k, pl in enumerate(plans):
            if pl.failed is not None:
                rounds.append(pl.failed)
                continue
            out = outcomes[k]
            label, address = pl.target.label, pl.resolution.address
            if out.received == 0 and out.error_state is not None:
                rounds.append(
                    failed_round(
                        ts=ts, target=label, address=address, probe=pl.method,
                        state=out.error_state, error=out.error, sent=out.sent,
                    )
                )
            else:
                rounds.append(
                    build_round(ts=ts, target=label, address=address, probe=pl.method, rtts_ms=out.rtts_ms, error=out.error)
                )
        return rounds

    def close(self) -> None:
        self._closed = True
        self.icmp.close()
        self.tcp.close()
