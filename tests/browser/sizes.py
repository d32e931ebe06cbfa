"""The two screens every browser test looks at: a laptop's and a phone's (Playwright's
new_page/new_context keyword arguments)."""

from __future__ import annotations

from typing import Any

LAPTOP: dict[str, Any] = {"viewport": {"width": 1280, "height": 800}}
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
BY_NAME: dict[str, dict[str, Any]] = {"desktop": LAPTOP, "phone": PHONE}
