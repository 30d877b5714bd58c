"""Log warnings raised while the monitor runs show as notifications, never as text on the screen."""

from __future__ import annotations

import logging
import threading

from qostui.config import Config, parse_targets_arg
from qostui.ui.app import QostuiApp
from qostui.ui.log_bridge import logs_to_notifications
from ui.helpers import wait_for


async def test_warning_from_a_thread_becomes_a_notification() -> None:
    config = Config().with_overrides(targets=parse_targets_arg("127.0.0.1"), interval_s=1.0)
    app = QostuiApp(config, remember_theme=False)  # no pipeline: nothing probes
    root = logging.getLogger()
    before = root.handlers[:]
    async with app.run_test() as pilot:
        with logs_to_notifications(app):
            worker = threading.Thread(
                target=lambda: logging.getLogger("qostui.exporters").warning("influx: cannot reach X\ndetail")
            )
            worker.start()
            worker.join()
            await wait_for(pilot, lambda: len(app._notifications) > 0, 10, "the notification")
            messages = [n.message for n in app._notifications]
        assert "influx: cannot reach X" in messages
        assert all("\n" not in m for m in messages)
    assert root.handlers == before  # restored after the block
