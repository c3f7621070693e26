"""Alert delivery: a JSON POST to the configured webhook (STOCKULA_ALERT_WEBHOOK_URL). Callers always
log the alert as well, so a missing or failing webhook never hides one."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterable

from .health import Alert


def post_alerts(url: str | None, alerts: Iterable[Alert], *, source: str, timeout: float = 10.0) -> str | None:
    """POST ``alerts`` to ``url``; returns None when delivered (or no webhook), else why it failed."""
    alerts = list(alerts)
    if not url or not alerts:
        return None
    body = json.dumps({"source": source, "alerts": [a.as_dict() for a in alerts]}).encode()
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - operator-configured URL
            return None if 200 <= response.status < 300 else f"webhook answered HTTP {response.status}"
    except OSError as exc:  # URLError, timeouts, refused connections
        return f"webhook unreachable: {exc}"
