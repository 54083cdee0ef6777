"""Contracts files read and loaded (pim.contracts): every problem of every file named by file, line and field,
and every contract checked against the catalog before anything is stored. Split from pim.contracts, which still
offers every name here."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError

from pim.catalog import Structure
from pim.contracts_model import SPECIAL_FIELDS, STOCK_TIME, Contract, ContractFile
from pim.contracts_store import put_contracts
from pim.errors import ConfigError
from pim.store.store import Store
from pim.structure_files import StructureErrors

if TYPE_CHECKING:
    from pim.structure_files import StructureProblem


LOAD_HINT = "fix the contract and load again: pim feeds load DIR"


@dataclass(frozen=True)
class Placed:
    """A contract and where it is declared, so that a problem found later still names file, line and field."""

    contract: Contract
    file: str
    node: Any  # the file's YAML node tree
    loc: tuple[Any, ...]  # the contract's place in it: ("contracts", 0), or () for a file that is one bare contract

    def problem(self, field: str, reason: str) -> StructureProblem:
        from pim.structure_files import StructureProblem, _line_of

        loc = (*self.loc, field)
        return StructureProblem(self.file, _line_of(self.node, loc), ".".join(map(str, loc)), reason)


class ContractConflicts(ConfigError):
    """Contracts that read well but do not fit the catalog or each other; `problems` lists every one."""

    def __init__(self, problems: list[StructureProblem]) -> None:
        from pim.structure_files import problem_listing

        super().__init__(problem_listing(problems, "with the contracts"),
                         hint="fix the contracts (or load the structure they name first) and load again: "
                              "pim feeds load DIR")
        self.problems = problems


def read_contract_file(path: Path) -> tuple[list[Placed], list[StructureProblem]]:
    """A YAML or JSON file with `contracts: [...]` (or one contract): its contracts, or every problem it has, each
    naming file, line and field."""
    from pim.structure_files import StructureProblem, _line_of

    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except UnicodeDecodeError as exc:
        return [], [StructureProblem(name, None, "-", f"not UTF-8 ({exc.reason}); save the file as UTF-8")]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return [], [StructureProblem(name, mark.line + 1 if mark else None, "-",
                                     f"not valid YAML: {getattr(exc, 'problem', exc)}")]
    wrapped = isinstance(data, dict) and "contracts" not in data
    try:
        contracts = ContractFile.model_validate({"contracts": [data]} if wrapped else data).contracts
    except ValidationError as exc:
        problems = []
        for e in exc.errors():
            loc = tuple(e["loc"][2:]) if wrapped else tuple(e["loc"])
            reason = ("unknown field (see schemas/contract.schema.json)" if e["type"] == "extra_forbidden"
                      else str(e["ctx"]["error"]) if e["type"] == "value_error" else e["msg"])
            problems.append(StructureProblem(name, _line_of(node, loc), ".".join(map(str, loc)) or "-", reason))
        return [], problems
    if renumbered := number_problems(name, node):
        return [], renumbered
    return [Placed(c, name, node, () if wrapped else ("contracts", n)) for n, c in enumerate(contracts)], []


#: The assortment lists whose items are SKUs (pim.contracts_model.Assortment).
SKU_LISTS = ("skus", "exclude_skus")


def number_problems(name: str, node: yaml.Node | None, path: tuple[Any, ...] = ()) -> list[StructureProblem]:
    """SKUs written without quotes whose digits YAML does not keep (0123 is read as the octal number 83, 1_000 as
    1000): taken as the number's text they would name another product, so they are refused with the fix. Other
    unquoted whole numbers are their own text (Assortment takes them)."""
    from pim.structure_files import StructureProblem

    out: list[StructureProblem] = []
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if key.value in SKU_LISTS and isinstance(value, yaml.SequenceNode):
                for i, item in enumerate(value.value):
                    if (isinstance(item, yaml.ScalarNode) and item.tag == "tag:yaml.org,2002:int"
                            and str(yaml.safe_load(item.value)) != item.value):
                        out.append(StructureProblem(
                            name, item.start_mark.line + 1, ".".join(map(str, (*path, key.value, i))),
                            f"{item.value} without quotes is read as the number {yaml.safe_load(item.value)}, not as "
                            f"the SKU {item.value}: write it in quotes (\"{item.value}\")"))
            else:
                out += number_problems(name, value, (*path, key.value))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out += number_problems(name, item, (*path, i))
    return out


def load_contracts(store: Store, paths: Iterable[Path], *, force: bool = False,
                   notes: list[str] | None = None) -> list[Contract]:
    """Every file must read and every contract must fit the catalog (a known channel, one of its locales, known
    fields, a code of its own) before anything is stored. Every problem of every file is reported at once:
    StructureErrors for what the files say, ContractConflicts for what does not fit. A customer code known only
    in another case (pim.feed_customers) is refused too, unless `force`: with the other conflicts when there are
    any, else alone as CustomerCaseClash (bad input, exit 2); `notes` gets the ones let through."""
    from pim.feed_customers import CustomerCaseClash, clash_notes, clash_problems

    from pim.structure_files import StructureErrors

    placed: list[Placed] = []
    problems: list[StructureProblem] = []
    for path in paths:
        found, wrong = read_contract_file(path)
        placed += found
        problems += wrong
    if problems:
        raise StructureErrors(problems, LOAD_HINT, files="contract files")
    conflicts = fit_problems(placed, store.structure(), _declared_renditions(placed))
    clashes = [] if force else clash_problems(store, placed)
    if conflicts:  # what does not fit the catalog is configuration (exit 3); the clashes are listed with it
        raise ContractConflicts(conflicts + clashes)
    if leaks := internal_problems(placed, store.structure()):  # would send what staff keep (exit 2)
        raise InternalFieldsNamed(leaks)
    if clashes:  # only a customer code's case: the file's slip, bad input (exit 2)
        raise CustomerCaseClash(clashes)
    if notes is not None:
        notes += clash_notes(store, placed, force)
    contracts = [p.contract for p in placed]
    put_contracts(store, contracts)
    return contracts


def fit_problems(placed: list[Placed], s: Structure,
                 renditions: dict[str, list[str]] | None = None) -> list[StructureProblem]:
    """What does not fit: a code declared twice, a channel, locale or field the catalog lacks, a rendition the
    channel does not declare (`renditions`: channel → rendition names, as media.yaml declares them)."""
    seen: set[str] = set()
    out: list[StructureProblem] = []
    for p in placed:
        c = p.contract
        if c.code in seen:
            out.append(p.problem("code", f"contract '{c.code}' is declared twice; contract codes must be unique"))
        seen.add(c.code)
        if c.channel not in s.channels:
            known = ", ".join(sorted(s.channels)) or "none (load the structure first)"
            out.append(p.problem("channel", f"contract '{c.code}': unknown channel '{c.channel}'; known: {known}"))
            continue
        ch = s.channels[c.channel]
        if c.locale not in ch.locales:
            out.append(p.problem("locale", f"contract '{c.code}': locale {c.locale} is not one of channel "
                                           f"{c.channel}'s locales {ch.locales}"))
        unknown = [f for f in c.fields if f not in s.attributes and f not in SPECIAL_FIELDS]
        if unknown:
            out.append(p.problem("fields", f"contract '{c.code}': unknown fields {unknown}; use attribute codes or "
                                           + ", ".join(SPECIAL_FIELDS)))
        if STOCK_TIME in c.fields and STOCK_TIME not in s.attributes and not c.include_stock:
            out.append(p.problem("fields", f"contract '{c.code}': field {STOCK_TIME} says when the stock was "
                                           f"measured, but include_stock is false; set include_stock: true or "
                                           f"drop {STOCK_TIME} from fields"))
        if c.rendition is not None and c.rendition not in (declared := (renditions or {}).get(c.channel, [])):
            out.append(p.problem("rendition", rendition_problem(c, declared)))
    return out


def internal_problems(placed: list[Placed], s: Structure) -> list[StructureProblem]:
    """A contract field or BMEcat option naming an attribute marked internal (pim.published)."""
    from pim.published import contract_internal_fields, refusal

    out = []
    for p in placed:
        for field, codes in contract_internal_fields(p.contract, s):
            message, hint = refusal(f"contract '{p.contract.code}': {field}", codes)
            out.append(p.problem(field, f"{message}; {hint}"))
    return out


class InternalFieldsNamed(StructureErrors):
    """Contracts naming an attribute kept for staff (`internal: true`): bad input (exit 2), nothing is stored."""

    def __init__(self, problems: list[StructureProblem]) -> None:
        super().__init__(problems, where="with the contracts' fields",
                         hint="fix the contracts and load again: pim feeds load DIR")


def rendition_problem(c: Contract, declared: list[str]) -> str:
    """Why the contract's rendition cannot be linked, and what to do; for `pim feeds load` and the renderers."""
    if not declared:
        return (f"contract '{c.code}': rendition '{c.rendition}', but media.yaml declares no renditions for channel "
                f"{c.channel}; declare it under channels.{c.channel}.renditions in media.yaml (then `pim media "
                f"renditions`), or leave rendition out to link the channel's listing rendition")
    from pim.spelling import did_you_mean, nearest

    return (f"contract '{c.code}': rendition '{c.rendition}'{did_you_mean(nearest(c.rendition or '', declared))} is "
            f"not one of channel {c.channel}'s renditions in media.yaml ({', '.join(declared)}); name one of them, or "
            f"leave rendition out to link the listing one")


def _declared_renditions(placed: list[Placed]) -> dict[str, list[str]]:
    """Channel → its rendition names in media.yaml, read only when a contract names a rendition (through the
    registry: the core does not import the media area)."""
    if not any(p.contract.rendition for p in placed):
        return {}
    from pim.registry import load

    media = load("media.settings:load_media_file")()
    return {code: [r.name for r in rules.renditions] for code, rules in media.channels.items()}
