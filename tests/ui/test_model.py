"""The monitor's headless parts: state by thresholds, ring buffers, sparklines, chart data, theme file."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from qostui.config import ThresholdConfig, load_config
from qostui.records import PingRound, ProbeState
from qostui.ui.chart import Line, ping_lines, ping_series, render
from qostui.ui.model import MonitorModel, classify, sparkline
from qostui.ui.settings import save_theme, with_ui_theme
from ui.helpers import T0, fixed_records, offline_config, wait_for

T = ThresholdConfig()


def rnd(**kw: object) -> PingRound:
    base: dict[str, object] = dict(ts=T0, target="a", address="a", probe="icmp", state=ProbeState.OK, sent=10,
                                   received=10, loss_pct=0.0, rtt_min_ms=1.0, rtt_avg_ms=2.0, rtt_max_ms=3.0,
                                   jitter_ms=0.5, mos=4.4)
    base.update(kw)
    return PingRound(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kw", "state", "level"),
    [
        ({}, "up", "ok"),
        ({"rtt_avg_ms": 150.0}, "up", "warn"),
        ({"rtt_avg_ms": 400.0}, "up", "crit"),
        ({"jitter_ms": 40.0}, "up", "warn"),
        ({"mos": 3.0}, "up", "crit"),
        ({"received": 9, "loss_pct": 10.0}, "lossy", "warn"),
        ({"received": 7, "loss_pct": 30.0}, "lossy", "crit"),
        ({"received": 0, "loss_pct": 100.0, "rtt_avg_ms": None}, "down", "crit"),
        ({"state": ProbeState.NO_ROUTE, "sent": 0, "received": 0}, "no route", "crit"),
        ({"state": ProbeState.NO_PERMISSION, "sent": 0, "received": 0}, "no permission", "crit"),
        ({"state": ProbeState.UNRESOLVED}, "unresolved", "crit"),
    ],
)
def test_classify_by_thresholds(kw: dict[str, object], state: str, level: str) -> None:
    assert classify(rnd(**kw), T) == (state, level)
    assert classify(None, T) == ("waiting", "idle")


def test_ring_buffers_are_bounded_and_stats_reset() -> None:
    model = MonitorModel(offline_config(history_rounds=50))
    model.ingest(fixed_records(500))
    h = model.targets["127.0.0.2"]
    assert len(h.rounds) == 50 and len(model.interfaces["eth0"].samples) == 50
    assert h.sent == 500 * 5 and h.total_loss_pct == pytest.approx(100 * 71 / 2500)  # 71 rounds (i % 7 == 3) lost 1 of 5
    assert h.min_ms is not None and h.max_ms is not None and h.min_ms < h.avg_ms < h.max_ms  # type: ignore[operator]
    model.reset_stats()
    assert h.sent == 0 and h.min_ms is None and h.avg_ms is None and len(h.rounds) == 50
    assert model.interfaces["eth0"].rx_bytes == 0


def test_round_target_name_maps_to_its_panel() -> None:
    from dataclasses import replace

    from qostui.config import TargetConfig

    cfg = offline_config()
    cfg = replace(cfg, targets=(TargetConfig(address="127.0.0.1", name="gateway"),))
    model = MonitorModel(cfg)
    changes = model.ingest([rnd(target="gateway", address="127.0.0.1")])
    assert changes.targets == {"127.0.0.1"} and model.targets["127.0.0.1"].last is not None


def test_sparkline() -> None:
    assert sparkline([0, 1, 2, 3, 4, 5, 6, 7], 8) == "▁▂▃▄▅▆▇█"
    assert sparkline([1.0, None, 1.0], 3) == "▁·▁"
    assert sparkline([0.0, 50.0, 100.0], 2, lo=0, hi=100) == "▅█"  # the last `width` values
    assert sparkline([], 5) == "" and sparkline([None], 4) == "·"


def test_ping_series_buckets_and_marks_loss() -> None:
    rounds = [r for r in fixed_records(600) if isinstance(r, PingRound) and r.target == "127.0.0.2"]
    s = ping_series(rounds, T0, T0 + 600, max_points=60)
    assert len(s.ts) == 60 and s.rounds == 600
    assert len(s.loss_ts) == 60  # a loss every 7 rounds: at least one in every 10 s bucket
    assert all(lo <= av <= hi for lo, av, hi in zip(s.rtt_min_ms, s.rtt_avg_ms, s.rtt_max_ms, strict=False))  # type: ignore[operator]
    assert ping_series(rounds, T0 + 10_000, T0 + 10_300).rounds == 0


@pytest.mark.parametrize("scale", ["auto", "zero", "log"])
def test_render_chart_all_scales(scale: str) -> None:
    rounds = [r for r in fixed_records(120) if isinstance(r, PingRound) and r.target == "127.0.0.2"]
    s = ping_series(rounds, T0 - 180, T0 + 120, 200)
    text = render(ping_lines(s, scale), width=70, height=16, since=T0 - 180, until=T0 + 120, scale=scale, title="RTT ms")
    plain = __import__("re").sub(r"\x1b\[[0-9;]*m", "", text)
    lines = plain.splitlines()
    assert len(lines) == 16 and max(len(x) for x in lines) <= 70
    assert "x" in plain and "RTT ms" in plain
    if scale == "zero":
        assert any(line.strip().startswith("0.0") for line in lines)
    # gaps stay gaps: a None in the middle splits the line instead of bridging it
    assert render([Line([T0, T0 + 1, T0 + 2], [1.0, None, 2.0], "a", "cyan")], width=30, height=8,
                  since=T0, until=T0 + 2, scale=scale)


def test_theme_saved_without_touching_the_rest(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('# mine\ninterval_s = 2\n\n[ui]\nhistory_rounds = 60 # keep\n\n[probe]\ncount = 3\n')
    assert save_theme(str(cfg), "nord") == cfg
    text = cfg.read_text()
    assert text.startswith("# mine\ninterval_s = 2\n") and "history_rounds = 60 # keep" in text
    loaded = load_config(str(cfg))
    assert loaded.ui.theme == "nord" and loaded.ui.history_rounds == 60 and loaded.probe.count == 3
    save_theme(str(cfg), "gruvbox")
    assert load_config(str(cfg)).ui.theme == "gruvbox" and cfg.read_text().count("theme =") == 1
    assert with_ui_theme("", "x") == '[ui]\ntheme = "x"\n'


def test_theme_file_created_under_xdg(tmp_path: Path) -> None:
    path = save_theme("<defaults>", "dracula")
    assert path == tmp_path / "xdg-config" / "qostui" / "config.toml"  # conftest points XDG here
    assert load_config(None).ui.theme == "dracula"


def test_theme_not_saved_when_ui_is_an_inline_table(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('ui = { history_rounds = 10 }\n')
    assert save_theme(str(cfg), "nord") is None
    assert cfg.read_text() == 'ui = { history_rounds = 10 }\n'


def test_ui_never_imports_tensorflow() -> None:
    code = "import sys, qostui.ui.app, qostui.commands.monitor; print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip() == "[]"


async def test_round_burst_is_one_update_at_100_targets(monkeypatch: pytest.MonkeyPatch) -> None:
    """100 targets' records arriving in many small bus batches repaint each panel once."""
    from qostui.ui.app import QostuiApp
    from qostui.ui.widgets.target_panel import TargetPanel

    targets = tuple(f"127.0.{i // 250}.{i % 250 + 1}" for i in range(100))
    app = QostuiApp(offline_config(",".join(targets), view="panels"), remember_theme=False)
    calls = {"n": 0}
    original = TargetPanel.update_view

    def counting(self: TargetPanel) -> None:
        calls["n"] += 1
        original(self)

    monkeypatch.setattr(TargetPanel, "update_view", counting)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        calls["n"] = 0
        records = [r for r in fixed_records(1, targets) if isinstance(r, PingRound)]
        batches = [records[i:i + 5] for i in range(0, len(records), 5)]

        def publish() -> None:  # as the bus would: from another thread, in pieces
            for b in batches:
                app._on_bus(b)

        t = threading.Thread(target=publish)
        t.start()
        t.join()
        await wait_for(pilot, lambda: app.records_applied == 100, 10, "the 100 records")
        assert app.records_applied == 100
        assert app.batches_applied <= 3  # usually 1: the message is posted once until drained
        # at most one repaint per panel and batch; panels off screen wait until they are scrolled to
        assert 1 <= calls["n"] <= 100 * app.batches_applied
        screen = app.screen
        last = screen.query(TargetPanel)[-1]
        assert last.key in screen._stale  # type: ignore[attr-defined]
        last.focus()
        last.scroll_visible(animate=False)
        await wait_for(pilot, lambda: last.key not in screen._stale, 10, "the scrolled-to panel's repaint")  # type: ignore[attr-defined]
        assert "UP" in str(last.border_subtitle)


def test_compacted_history_draws_the_same_chart() -> None:
    from qostui.records import BandwidthSample
    from qostui.ui.chart import bandwidth_series, compact_rounds, compact_samples

    records = fixed_records(3000)
    rounds = [r for r in records if isinstance(r, PingRound) and r.target == "::1"]  # ends unreachable
    since, until = T0 - 500, T0 + 3000
    compact = compact_rounds(rounds, since, until, 100)
    assert len(compact) <= 100
    a, b = ping_series(rounds, since, until, 100), ping_series(compact, since, until, 100)
    assert (a.ts, a.rtt_min_ms, a.rtt_max_ms, a.sent, a.received) == (b.ts, b.rtt_min_ms, b.rtt_max_ms, b.sent, b.received)
    assert b.rtt_avg_ms == pytest.approx(a.rtt_avg_ms) and len(a.loss_ts) == len(b.loss_ts) >= 1
    samples = [r for r in records if isinstance(r, BandwidthSample)]
    bs, cs = bandwidth_series(samples, since, until, 100), bandwidth_series(compact_samples(samples, since, until, 100), since, until, 100)
    assert bs.ts == cs.ts and cs.rx_mbps == pytest.approx(bs.rx_mbps)
