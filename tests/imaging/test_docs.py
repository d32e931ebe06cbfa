"""docs/operations.md is rendered from the registry, so it cannot drift from the code."""

from __future__ import annotations

from pathlib import Path

from pixelmill.imaging.pipeline import operations_doc
from pixelmill.imaging.registry import OPERATIONS, markdown_table

DOC = Path(__file__).parents[2] / "docs" / "operations.md"


def test_operations_doc_is_up_to_date() -> None:
    assert DOC.read_text(encoding="utf-8") == operations_doc(), (
        "docs/operations.md is stale: run .venv/bin/python docs/gen_operations.py"
    )


def test_the_table_shows_every_operation_alias_and_parameter() -> None:
    table = markdown_table()
    for op in OPERATIONS.values():
        assert f"\n## {op.name}\n" in table
        assert all(f"`{alias}`" in table for alias in op.aliases)
        for name, info in op.params.model_fields.items():
            assert f"| `{name}` |" in table
            assert info.description, f"{op.name}.{name} has no description"
    assert "| `factor` | number | none | 0.05 < x ≤ 100 |" in table
    assert "| `angle` | number | required | -360 ≤ x ≤ 360 |" in table
