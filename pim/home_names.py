"""Files a request names under PIM_HOME (an import's profile or map, a publish's channel catalog): a relative
name, never a path, so a request can neither read a file elsewhere on the server nor one it uploaded itself
(PIM_HOME/uploads), and a symlink leading out of PIM_HOME is refused like `..`."""

from __future__ import annotations

import re
from pathlib import Path

from pim.errors import InputError
from pim.settings import get_settings

YAML_SUFFIXES = (".yaml", ".yml")
_SEGMENT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")  # no "..", no dot files, no separators of any kind


def home_file(name: str, *, noun: str, field: str, example: str, missing_hint: str) -> Path:
    """The .yaml file `name` names under PIM_HOME (e.g. `example`); InputError on `field` when the name is not
    one (a path, `..`, a dot file, an upload, a symlink leading out) or no such file exists."""
    hint = f"name a .yaml file under PIM_HOME, e.g. {example} (no '..', no leading '/')"
    parts = name.split("/")
    if not all(_SEGMENT.fullmatch(p) for p in parts) or not name.lower().endswith(YAML_SUFFIXES) \
            or parts[0] == "uploads":
        raise InputError(f"'{name}' is not a {noun} name", field=field, hint=hint)
    home = get_settings().home.resolve()
    path = (home / name).resolve()
    if not path.is_relative_to(home) or path.relative_to(home).parts[0] == "uploads":  # the name passed: a link
        where = "out of PIM_HOME" if not path.is_relative_to(home) else "into PIM_HOME/uploads"
        raise InputError(f"'{name}' is not a {noun} name: it leads {where} through a symbolic link", field=field,
                         hint=f"name a {noun} file kept under PIM_HOME itself, e.g. {example}; an admin can "
                         "replace the link with a copy of the file")
    if not path.is_file():
        raise InputError(f"no {noun} '{name}' in PIM_HOME", field=field, hint=missing_hint)
    return path
