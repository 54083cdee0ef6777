"""Catalog sizes, shaped like Akeneo's representative catalogs. A profile says how big the catalog is and how
full; the seed says which catalog of that shape you get."""

from __future__ import annotations

from dataclasses import dataclass, replace

from pim.errors import ConfigError


@dataclass(frozen=True)
class ProfileSpec:
    """Everything the generator needs to know about a catalog's shape. Writers (sources, contracts) get it too."""

    name: str
    products: int
    attributes: int
    families: int
    categories: int
    locales: tuple[str, ...]
    channels: int = 2
    fill_rate: float = 0.6  # share of optional (non-required) family attributes a product fills
    required_fill_rate: float = 0.93  # each required value is present with this probability: completeness varies
    family_size: tuple[int, int] = (25, 45)  # attributes per family, beyond the core ones
    variant_share: float = 0.10  # share of products that are variants of a product model
    disabled_share: float = 0.02
    invalid_ean_share: float = 0.004
    duplicate_ean_share: float = 0.004
    brands: int = 50


PROFILES: dict[str, ProfileSpec] = {
    # Hidden: fast enough for tests.
    "tiny": ProfileSpec("tiny", products=200, attributes=30, families=4, categories=30,
                        locales=("en_US", "de_DE"), family_size=(8, 14), brands=8,
                        invalid_ean_share=0.02, duplicate_ean_share=0.02),
    "small": ProfileSpec("small", products=5_000, attributes=100, families=20, categories=200,
                         locales=("en_US", "de_DE"), family_size=(25, 45), brands=40),
    "medium": ProfileSpec("medium", products=50_000, attributes=400, families=50, categories=1_000,
                          locales=("en_US", "de_DE", "fr_FR", "nl_NL"), fill_rate=0.55, family_size=(40, 70), brands=150),
    "large": ProfileSpec("large", products=1_000_000, attributes=1_000, families=400, categories=4_000,
                         locales=("en_US", "de_DE", "fr_FR", "nl_NL"), fill_rate=0.5, family_size=(50, 90), brands=500),
}


def get_profile(name: str) -> ProfileSpec:
    """`small`, `medium`, `large`, `tiny`; or `<profile>:<products>` for that shape with another product count."""
    base, _, count = name.partition(":")
    spec = PROFILES.get(base)
    if spec is None:
        raise ConfigError(f"unknown profile '{name}'", hint="use small, medium or large (or e.g. small:1000)")
    if not count:
        return spec
    if not count.isdigit() or int(count) < 1:
        raise ConfigError(f"'{count}' is not a product count", hint="write e.g. small:1000")
    return replace(spec, name=name, products=int(count))
