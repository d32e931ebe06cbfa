"""Write docs/operations.md from the operation registry: `.venv/bin/python docs/gen_operations.py`.

tests/imaging/test_docs.py fails when the file is not what this writes.
"""

from pathlib import Path

from pixelmill.imaging.pipeline import operations_doc

if __name__ == "__main__":
    target = Path(__file__).with_name("operations.md")
    target.write_text(operations_doc(), encoding="utf-8")
    print(f"wrote {target}")
