"""Found following round 36's docs literally: a misspelt Google option (`requre_brand: false`) or a quoted one
(`require_brand: "no"`) was read as "brand required" without a word, blocking thousands of items; and PATCH took
`"enabled": "yes"` as true where the docs say a boolean."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pim.errors import ConfigError
from pim.pipeline import publish
from pim.store import Store
from tests.test_channels_r36g import _catalog, _seed
from tests.test_web_r36w2 import bearer, cheap_argon2, seed, web  # noqa: F401  (fixtures)


@pytest.mark.parametrize(("options", "said"), [
    ({"requre_brand": False}, "did you mean 'require_brand'"),
    ({"require_brand": "no"}, "options.require_brand is 'no'"),
    ({"family_image": 1}, "options.family_image is 1"),
    ({"condition": "mint"}, "options.condition is 'mint'"),
])
def test_a_google_option_it_does_not_read_or_a_value_it_does_not_take_is_refused(
        store: Store, tmp_path: Path, options: dict[str, Any], said: str) -> None:
    _seed(store)
    path = _catalog(tmp_path, {}, **options)
    with pytest.raises(ConfigError) as refused:
        publish(store, tmp_path / "out", channel="google_merchant", scope="ecommerce", options={"catalog": str(path)})
    assert said in str(refused.value) and str(path) in str(refused.value)
    assert not (tmp_path / "out" / "google_merchant").exists()  # refused before anything is written


def test_the_documented_options_publish(store: Store, tmp_path: Path) -> None:
    _seed(store)
    path = _catalog(tmp_path, {}, require_brand=False, family_image=True, missing_stock="in_stock",
                    condition="used")
    result = publish(store, tmp_path / "out", channel="google_merchant", scope="ecommerce",
                     options={"catalog": str(path)})
    assert result.locations


def test_patch_refuses_a_string_for_enabled(web: TestClient, store: Store) -> None:  # noqa: F811
    url, auth = "/api/v1/products/complete", bearer(store)
    for wrong in ("yes", "no", 1):
        answer = web.patch(url, headers=auth, json={"enabled": wrong})
        assert answer.status_code == 422, (wrong, answer.text)
    product = store.get_product("complete")
    assert product is not None and product.enabled  # nothing written
    assert web.patch(url, headers=auth, json={"enabled": False}).status_code == 200
