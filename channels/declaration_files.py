"""Reading catalog declarations: a YAML file (or the built-in one of a renderer, channels/catalogs/) into a
ChannelCatalog, a mistake reported with the file, line and field so its author can go straight to it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from channels.declaration import ChannelCatalog
from pim.errors import InputError

BUILTIN_DIR = Path(__file__).parent / "catalogs"


def load_catalog(path: Path) -> ChannelCatalog:
    """Read one declaration; a mistake comes back as an InputError naming the file, line and field."""
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(f"not valid YAML: {exc}", file=str(path), line=mark.line + 1 if mark else None) from None
    try:
        return ChannelCatalog.model_validate(data or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        raise InputError(err["msg"], file=str(path), line=_line_of(node, loc), field=".".join(map(str, loc)),
                         hint="see schemas/channel_catalog.schema.json") from None


def line_in(path: Path | str, loc: tuple[Any, ...]) -> int | None:
    """The line of `loc` (keys and list indexes) in the YAML file `path`, for a mistake found after loading
    (a Google target's shipping price); None when the file cannot be read."""
    try:
        return _line_of(yaml.compose(Path(path).read_text(encoding="utf-8")), loc)
    except (OSError, yaml.YAMLError):
        return None


def _line_of(node: yaml.Node | None, path: tuple[Any, ...]) -> int | None:
    line = node.start_mark.line + 1 if node is not None else None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        if node is None:
            break
        line = node.start_mark.line + 1
    return line


def catalog_for(renderer: str, options: dict[str, Any]) -> ChannelCatalog:
    """The declaration a run uses: `options["catalog"]` (a path or a ChannelCatalog), else the built-in one."""
    given = options.get("catalog")
    if isinstance(given, ChannelCatalog):
        return given
    if given:
        return load_catalog(Path(given))
    builtin = BUILTIN_DIR / f"{renderer}.yaml"
    if not builtin.exists():
        return ChannelCatalog(code=renderer, renderer=renderer)
    return load_catalog(builtin)
