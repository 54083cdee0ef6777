"""Text values are stored with `\n` line breaks (pim.values.clean_text): a CSV cell (or a browser's textarea)
gives `\r\n`, a JSON string `\n`, and the same text from both counted as a change and a conflict (found exploring
as an integrator)."""

from __future__ import annotations

from pathlib import Path

import pytest

from importers.content import import_content
from pim.store import Store
from pim.structure import Attribute, AttributeType
from pim.values import ValueProblem, clean_text, is_clean_text, normalize
from tests.test_content_import import DRILL, seeded, write_json  # noqa: F401

TEXTAREA = Attribute(code="description", type=AttributeType.textarea)


@pytest.mark.parametrize(("raw", "stored"), [
    ("Robust\r\nsteel\r\n", "Robust\nsteel"), ("a\rb", "a\nb"), ("a\r\n\r\nb", "a\n\nb"), ("M\u00fcller\r\nx", "M\u00fcller\nx"),
])
def test_line_breaks_are_stored_as_newlines(raw: str, stored: str) -> None:
    assert clean_text(raw) == stored and is_clean_text(stored) and not is_clean_text(raw)
    assert normalize(TEXTAREA, raw) == stored


def test_an_identifier_with_a_carriage_return_is_refused() -> None:
    with pytest.raises(ValueProblem, match="one non-blank line"):
        normalize(Attribute(code="sku", type=AttributeType.identifier), "A1\rB")


def test_the_same_text_from_csv_and_json_is_no_change(seeded: Store, tmp_path: Path) -> None:  # noqa: F811
    import_content(write_json(tmp_path / "a.json", [{"sku": "A1", "name": {"de_DE": "Akku-Bohrer\nkompakt"}}]), seeded)
    again = import_content(write_json(tmp_path / "b.json", [{"sku": "A1", "name": {"de_DE": "Akku-Bohrer\r\nkompakt"}}]),
                           seeded)
    assert (again.updated, again.unchanged) == (0, 1)
    assert seeded.get_product("A1").values["name:de_DE"] == "Akku-Bohrer\nkompakt"
