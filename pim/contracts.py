"""Customer contracts as code: which products a customer gets (assortment), at which price (contract price,
tiers, fallback to list price), in which locale, currency, fields and format, and how it is delivered.
Declared in YAML/JSON (schema: schemas/contract.schema.json), stored in the `feed_contract` table."""

# Split into modules with one job each; every name this module offered still imports from here.
from pim.contracts_assortment import (_STRING_TYPES, _VERBATIM, AssortmentIndex, AssortmentMatcher,  # noqa: F401
                                      _accepts, contract_customers, with_assortment_values)
from pim.contracts_files import (LOAD_HINT, ContractConflicts, Placed, _declared_renditions,  # noqa: F401
                                 fit_problems, load_contracts, read_contract_file, rendition_problem)
from pim.contracts_model import (_CRON_FIELD, CRON, FINGERPRINT, SPECIAL_FIELDS, STOCK_TIME, STORED,  # noqa: F401
                                 Assortment, BmecatOptions, Contract, ContractFile, CsvDialect, Delivery, Pricing,
                                 Rule, SftpTarget, _Strict)
from pim.contracts_pricing import (ResolvedPrice, below_tiers_fallback, discounted, fallback_price,  # noqa: F401
                                   list_price, resolve_prices, undercuts_tiers)
from pim.contracts_store import (CONTRACT, ContractRow, delete_contract, get_contract, get_contracts,  # noqa: F401
                                 put_contracts)
