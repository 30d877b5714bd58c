"""The monitor with an Influx URL carrying a password and a token (issue 10, finding 10): the
warning about the unreachable server reaches the screen, the password and the token do not."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from integration.vm import free_port
from qostui.config import apply_env
from qostui.pipeline import Pipeline
from qostui.ui.app import QostuiApp
from qostui.ui.log_bridge import logs_to_notifications
from ui.helpers import live_config, screen_text, wait_for

PASSWORD = "uiPASS-5e6f7a"
TOKEN = "uiTOKEN-8b9c0d"


async def test_monitor_never_shows_the_url_password_or_token(db_path: Path) -> None:
    base = live_config(db_path, "127.0.0.1")
    url = f"http://alice:{PASSWORD}@127.0.0.1:{free_port()}"  # nothing listens there
    influx = replace(base.influx, enabled=True, url=url, org="o", bucket="b", token=TOKEN, timeout_ms=500)
    config = apply_env(base.with_overrides(influx=influx))  # registers the secrets, as load_config does
    app = QostuiApp(config, pipeline=None, remember_theme=False)
    with logs_to_notifications(app):  # as `qostui monitor` does; before the writer's first warning
        app.pipeline = Pipeline(config)
        try:
            async with app.run_test(size=(120, 30)) as pilot:
                writer = app.pipeline.influx
                assert writer is not None
                await wait_for(pilot, lambda: writer.state == "retrying", 30, "the writer to find the server away")
                await wait_for(pilot, lambda: len(app._notifications) > 0, 10, "the warning notification")
                await pilot.pause(0.2)
                shown = screen_text(app) + "\n".join(n.message for n in app._notifications)
                assert "cannot reach http://***@127.0.0.1:" in shown, shown
                assert PASSWORD not in shown and TOKEN not in shown
        finally:
            app.stop_pipeline()
    data = b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*") if p.is_file())
    assert PASSWORD.encode() not in data and TOKEN.encode() not in data
