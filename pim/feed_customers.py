"""Customer codes that differ only by case. Codes are compared exactly (a contract takes the prices of its
customer spelled exactly, and its files go to `feeds/<customer>/`), so a contract for `ACME` beside `acme` loaded
silently, delivered at list prices instead of acme's contract prices, and put its files in `feeds/ACME/` next to
`feeds/acme/` (one folder on a case-insensitive disk). `pim feeds load` now refuses a customer code, or a
`pricing.price_list`, that no contract, price list, delivered file or portal token knows yet while one of them
knows it in another case (`--force` loads it anyway, with a note); a code already known as written is never
refused, so correcting a slip (`ACME` back to `acme`) loads. "Did you mean" for a customer prefers a code that a
contract names now, and names every case variant it has. Such a refusal is bad input (CustomerCaseClash, exit 2),
as `pim feeds token` and `person add` refuse a customer code; round 36 refused it as configuration (exit 3)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select, union

from pim.commerce_tables import PRICE
from pim.contracts_store import CONTRACT
from pim.delivery_log import FEED_FILE, TOKEN
from pim.errors import InputError
from pim.spelling import nearest
from pim.store.store import Store
from pim.structure_files import StructureErrors

if TYPE_CHECKING:
    from pim.contracts_files import Placed
    from pim.structure_files import StructureProblem


class CustomerCaseClash(StructureErrors):
    """Contracts that read well and fit the catalog but name a customer code known only in another case: the
    file's slip (exit 2, like any refused input), not the configuration's. `problems` lists every one (file, line,
    field) for `--json`."""

    def __init__(self, problems: list[StructureProblem]) -> None:
        super().__init__(problems, where="with the contracts' customer codes",
                         hint="write each code as the known customer named above (rename it in the file), or, if "
                              "it really is another customer, load it anyway: pim feeds load DIR --force")


def known_customers(store: Store) -> tuple[set[str], set[str]]:
    """(the customers contracts name now, every customer code known: those, price lists, files, tokens)."""
    with store.engine.connect() as conn:
        contracted = set(conn.execute(select(CONTRACT.c.customer).distinct()).scalars())
        known = set(conn.execute(union(select(PRICE.c.customer), select(FEED_FILE.c.customer),
                                       select(TOKEN.c.customer))).scalars())
    return contracted, contracted | known


def case_twins(code: str, known: set[str]) -> list[str]:
    """The codes of `known` equal to `code` but for case, `code` itself left out."""
    folded = code.casefold()
    return sorted(k for k in known if k != code and k.casefold() == folded)


def case_clashes(store: Store, placed: list[Placed]) -> list[tuple[Placed, str, str, list[str], bool]]:
    """(contract, field, code, its twins, whether the code is known as written) for each customer code of the
    contracts (`customer`, `pricing.price_list`) that something knows in another case (other contracts of this
    load included)."""
    _, known = known_customers(store)
    loaded = {p.contract.customer for p in placed}
    out = []
    for p in placed:
        c = p.contract
        for field, code in (("customer", c.customer), ("pricing.price_list", c.pricing.price_list)):
            twins = case_twins(code, known | loaded) if code else []
            if twins:
                out.append((p, field, code, twins, code in known))
    return out


def clash_text(code: str, twins: list[str], field: str = "customer") -> str:
    named = " and ".join(f"'{t}'" for t in twins)
    return (f"{field} '{code}' differs only in case from the known customer {named}: customer codes are compared "
            f"exactly, so this contract would get neither the prices nor the portal of {named}, and its files would sit in "
            f"feeds/{code}/ beside feeds/{twins[0]}/ (one folder on a case-insensitive disk)")


def clash_problems(store: Store, placed: list[Placed]) -> list[StructureProblem]:
    """The clashes as load problems (file, line, field), each saying how to load it anyway."""
    from pim.structure_files import StructureProblem, _line_of

    out = []
    for p, field, code, twins, known in case_clashes(store, placed):
        if known:  # a slip loaded before (or with --force): a note, never a refusal
            continue
        loc = (*p.loc, *field.split("."))
        out.append(StructureProblem(p.file, _line_of(p.node, loc), ".".join(map(str, loc)),
                                    f"contract '{p.contract.code}': {clash_text(code, twins, field)}; write it as "
                                    f"{' or '.join(repr(t) for t in twins)}, or load with --force if '{code}' "
                                    "really is another customer"))
    return out


def clash_notes(store: Store, placed: list[Placed], force: bool) -> list[str]:
    """Notes for the clashes a load lets through: a code already known as written (a slip loaded before), and
    with `force` the refused ones too."""
    return [f"contract '{p.contract.code}': {clash_text(code, twins, field)} "
            + ("(already known as written, so loaded: check it is meant)" if known else "(loaded because of --force)")
            for p, field, code, twins, known in case_clashes(store, placed) if known or force]


def check_customer_code(store: Store, customer: str) -> None:
    """Refuse (InputError) a customer code no contract names and no delivered file carries (as
    pim.portal_people.check_customer), suggesting the code meant: a case variant first (every one there is),
    else the nearest code a contract names now, else the nearest known one (a deleted contract's files)."""
    with store.engine.connect() as conn:
        contracted = set(conn.execute(select(CONTRACT.c.customer).distinct()).scalars())
        filed = set(conn.execute(select(FEED_FILE.c.customer).distinct()).scalars())
    if customer in contracted or customer in filed:
        return
    twins = case_twins(customer, contracted | filed)
    near = nearest(customer, sorted(contracted)) or nearest(customer, sorted(filed))
    meant = twins or ([near, *case_twins(near, contracted | filed)] if near else [])
    said = (f" (did you mean {' or '.join(repr(m) for m in meant)}?"
            + (" customer codes are case-sensitive)" if twins or len(meant) > 1 else ")") if meant else "")
    raise InputError(f"no contract names the customer '{customer}'{said}", field="customer",
                     hint="use a customer code of the contracts (pim feeds list); for a customer whose contracts "
                          "come later, add --force (on the admins' portal page: tick 'No contract yet')")
