"""The checked-in JSON Schemas are generated from the models; drift fails here."""

from pim.registry import SCHEMAS
from pim.schemas import SCHEMA_DIR, drift, render


def test_checked_in_schemas_match_the_models() -> None:
    stale = drift()
    assert stale == [], f"schemas out of date: {stale}; run `pim schemas generate`"


def test_every_registered_schema_is_a_json_schema_document() -> None:
    import jsonschema

    for name in SCHEMAS:
        schema = render(name)
        jsonschema.Draft202012Validator.check_schema(schema)
        assert (SCHEMA_DIR / f"{name}.schema.json").exists()


def test_product_schema_rejects_a_record_without_identifier() -> None:
    import jsonschema
    import pytest

    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"values": {}}, render("product"))
