"""What the cold start relies on: the settings module loads no image engine, and its bound on
a chain's operations is the engine's own."""

from __future__ import annotations

import subprocess
import sys

from pixelmill.config import MAX_STEPS, Settings
from pixelmill.imaging import pipeline


def test_the_settings_bound_on_operations_is_the_engines() -> None:
    assert MAX_STEPS == pipeline.MAX_STEPS
    assert Settings.model_fields["max_operations"].default == pipeline.MAX_STEPS


def test_loading_the_settings_imports_no_image_engine_nor_http_client() -> None:
    # `pixelmill serve` starts its forkserver (which imports NumPy, OpenCV and Pillow beside
    # the API process) once the settings are loaded: before that, none of them
    code = (
        "import sys; from pixelmill.config import load_settings; load_settings(); "
        "print(sorted(m for m in ('numpy', 'cv2', 'PIL', 'httpx', 'sqlalchemy') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
