"""A precedence file checked against the catalog structure before an import relies on it.

A rule for a code the structure does not have (`nmae`, `marketting`) or for a source no import can be named
(`ERP`) loads without complaint and never matches: the attribute falls back to `default` while the file
says otherwise. Imports refuse such a file; a person's edit in the UI does not (a rule left behind by a
deleted attribute must not stop the content team)."""

from __future__ import annotations

import re
from difflib import get_close_matches
from typing import TYPE_CHECKING

from pim.errors import InputError

if TYPE_CHECKING:
    from pim.catalog import Structure
    from pim.merge import Precedence

#: A source name (pim.sources.SourceProfile.source) or a pattern of them (`supplier:*`).
SOURCE_OR_PATTERN = re.compile(r"^[a-z0-9_*?\[\]!-]+(:[A-Za-z0-9_.*?\[\]!-]+)?$")


def check_precedence(precedence: Precedence, structure: Structure, file: str | None) -> None:
    """InputError naming the first rule that can never apply."""
    sections = (("attributes", "attribute", structure.attributes),
                ("groups", "attribute group", {*structure.attribute_groups,
                                               *(a.group for a in structure.attributes.values() if a.group)}),
                ("associations", "association type", structure.association_types))
    for section, kind, known in sections:
        for code in getattr(precedence, section):
            if code not in known:
                near = get_close_matches(code, list(known), n=1)
                raise InputError(f"the precedence has a rule for {kind} '{code}', which the catalog does not have",
                                 file=file, field=f"{section}.{code}",
                                 hint=f"did you mean '{near[0]}'?" if near else f"the structure files list the {kind}s")
    rules = {"default": precedence.default, **{f"{section}.{code}": order for section, _, _ in sections
                                               for code, order in getattr(precedence, section).items()}}
    for where, order in rules.items():
        for name in order:
            if not SOURCE_OR_PATTERN.match(name):
                raise InputError(f"'{name}' is not a source name, so the rule never matches it", file=file,
                                 field=where, hint="sources are written in lower case: erp, content, supplier:acme, "
                                 "or a pattern such as supplier:*")
