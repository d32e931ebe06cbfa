"""Write README.md's settings table from the model: `.venv/bin/python docs/gen_settings.py`.

tests/test_config.py fails when the README's table is not what this writes.
"""

from pathlib import Path

from pixelmill.config import with_settings_table

if __name__ == "__main__":
    target = Path(__file__).parents[1] / "README.md"
    target.write_text(with_settings_table(target.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote the settings table in {target}")
