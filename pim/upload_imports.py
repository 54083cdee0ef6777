"""Uploaded source files for import, one set of rules for the web import page (pim.web.imports) and the REST
API (pim.web.api_pipeline): which importers take an upload and who may name them, which file endings each
reads, and the profile or map it is read with. Both callers get the same answers and the same refusals, and
queue the same job for `pim worker` (pim.job_queue).

A profile or map is named, never given as a path: a .yaml file under PIM_HOME, outside PIM_HOME/uploads and
dot folders, so a request can neither read a file elsewhere on the server nor bring the mapping its own upload
is read with. What the page offers (`profile_names`) is what `profile_file` accepts. A chosen file must also be
the chosen source's kind of profile or map (`profile_problem`: its pim.registry.SCHEMAS model, which forbids
unknown keys, so the kinds tell apart), so a wrong kind is refused at upload rather than failing the job in the
worker; the page marks each file with the sources it fits (`profile_fits`)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pim import job_enqueue, registry
from pim.errors import InputError
from pim.home_names import YAML_SUFFIXES, home_file
from pim.settings import get_settings
from pim.web.job_roles import importer_role


@dataclass(frozen=True)
class Uploadable:
    """How an importer takes an uploaded file: what people call the source, the `pim import` command for files
    over the upload cap, its file endings, and the keyword its profile or map goes in (None: it takes none)."""

    label: str
    noun: str  # "is not a … file"
    command: str
    suffixes: tuple[str, ...]
    option: str | None
    needs_profile: bool = False
    schema: str | None = None  # the pim.registry.SCHEMAS model its profile or map must fit


CONTENT_SUFFIXES = (".csv", ".tsv", ".txt", ".json", ".jsonl", ".xlsx", ".xlsm")
#: pim.registry.IMPORTERS names that read one file, in the order the page offers them. akeneo is left out: it
#: reads a folder of exports and loads structure.
UPLOADABLE: dict[str, Uploadable] = {
    # default: PIM_HOME/content.profile.yaml when there is one
    "content": Uploadable("Content team", "content", "content", CONTENT_SUFFIXES, "profile", schema="content_profile"),
    "erp_csv": Uploadable("ERP CSV", "ERP CSV", "erp", (".csv", ".tsv", ".txt"), "map", needs_profile=True,
                          schema="erp_csv_map"),
    "erp_xml": Uploadable("ERP XML (SAP MATMAS)", "ERP XML", "erp-xml", (".xml",), "map",  # default: shipped map
                          schema="erp_xml_map"),
    "bmecat": Uploadable("Supplier BMEcat", "BMEcat", "bmecat", (".xml",), "map_path", needs_profile=True,
                         schema="bmecat_map"),
    "supplier": Uploadable("Supplier CSV/XLSX", "supplier CSV/XLSX", "supplier",
                           (".csv", ".tsv", ".txt", ".xlsx", ".xlsm"), "map_path", needs_profile=True,
                           schema="supplier_table_map"),
    # replaces whole records: admins only (pim.web.job_roles)
    "jsonl": Uploadable("Native JSON Lines (replaces whole records)", "JSON Lines", "jsonl", (".jsonl",), None),
}
DEFAULT_IMPORTER = "content"
MAPS_HINT = "put your map or profile under PIM_HOME/maps/ (e.g. maps/acme.map.yaml)"
_MAX_LISTED = 500
_checked: dict[tuple[str, str, int, int], str | None] = {}  # (schema, path, mtime_ns, size) → problem


class Importing(Protocol):
    """Who uploads: pim.web.accounts.User, or anything with a role and its check."""

    role: str

    def can(self, role: str) -> bool: ...


class UploadRefused(InputError):
    """What is wrong with an upload, per form field (importer, file, profile). `forbidden`: the user's role is
    what refuses it (403), not the request (422)."""

    def __init__(self, errors: dict[str, str], *, forbidden: bool = False) -> None:
        super().__init__("; ".join(errors.values()), field=next(iter(errors), None))
        self.errors = errors
        self.forbidden = forbidden


@dataclass(frozen=True)
class UploadPlan:
    """An accepted upload: the importer and its options (the profile or map as an absolute path)."""

    importer: str
    options: dict[str, str] = field(default_factory=dict)


def importers_for(user: Importing) -> list[str]:
    """The importers this user may name, in the page's order (jsonl only for admins)."""
    return [name for name in UPLOADABLE if user.can(importer_role(name))]


def default_content_profile() -> Path | None:
    """PIM_HOME/content.profile.yaml when there is one: a content upload that names no profile uses it."""
    path = (get_settings().home / "content.profile.yaml").resolve()
    return path if path.is_file() else None


def profile_file(name: str) -> Path:
    """The profile or map file `name` names under PIM_HOME (e.g. `maps/acme.map.yaml`); InputError when the
    name is not one (a path, `..`, a dot file, an upload, a symlink leading out) or no such file exists."""
    return home_file(name, noun="profile", field="profile", example="maps/acme.map.yaml",
                     missing_hint="an admin puts profiles and maps there")


def profile_names() -> list[str]:
    """The profile and map names under PIM_HOME a user may choose, sorted: every name `profile_file` accepts,
    except under the media and output folders (thousands of files, never a map), capped at 500."""
    settings = get_settings()
    home = settings.home.resolve()
    if not home.is_dir():
        return []
    skip = {home / "uploads", settings.media_root.resolve(), settings.output_dir.resolve()}
    found: list[str] = []
    for folder, dirs, files in os.walk(home):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and here / d not in skip)
        for name in files:
            if name.lower().endswith(YAML_SUFFIXES):
                relative = (here / name).relative_to(home).as_posix()
                try:
                    profile_file(relative)
                except InputError:
                    continue
                found.append(relative)
        if len(found) >= _MAX_LISTED:
            break
    return sorted(found)[:_MAX_LISTED]


def profile_name(path: str | Path) -> str:
    """A profile's name under PIM_HOME, as the page lists it (the path itself when it is elsewhere)."""
    home = get_settings().home.resolve()
    given = Path(path)
    return given.relative_to(home).as_posix() if given.is_relative_to(home) else str(path)


def profile_problem(importer: str, path: Path) -> str | None:
    """Why the file at `path` is not a profile or map `importer` reads, in one line (None: it is one). Kept per
    file version, since the page asks it of every listed file for every source."""
    schema = UPLOADABLE[importer].schema
    if schema is None:
        return None
    from pim.sources import load_profile

    try:
        stat = path.stat()
    except OSError as exc:
        return f"cannot read it: {exc.strerror}"
    key = (schema, str(path), stat.st_mtime_ns, stat.st_size)
    if key not in _checked:
        if len(_checked) > 4 * _MAX_LISTED:
            _checked.clear()
        try:
            load_profile(registry.load(registry.SCHEMAS[schema]), path)
            _checked[key] = None
        except InputError as exc:
            _checked[key] = f"{exc}" + (f" (at {exc.field})" if exc.field else "")
    return _checked[key]


def profile_fits(name: str, importers: list[str]) -> list[str]:
    """Which of `importers` read the profile or map `name` (a `profile_names` entry)."""
    return _fitting(profile_file(name), importers)


def _fitting(path: Path, importers: list[str]) -> list[str]:
    return [i for i in importers if UPLOADABLE[i].option and profile_problem(i, path) is None]


def _a(noun: str) -> str:
    """"an ERP CSV …", "a content …"."""
    return f"{'an' if noun[0] in 'AEIOU' else 'a'} {noun}"


def _options(importer: str, spec: Uploadable, profile: str | None) -> dict[str, str]:
    """The importer's options for this upload (its profile or map); InputError names what is wrong."""
    if profile and spec.option is None:
        raise InputError(f"'{importer}' takes no profile", field="profile", hint="leave the profile empty")
    if profile:
        path = profile_file(profile)
        if problem := profile_problem(importer, path):
            raise _not_its_kind(importer, profile, path, problem)
        return {spec.option: str(path)}  # type: ignore[dict-item]
    if spec.needs_profile:
        raise InputError(f"'{importer}' needs its map", field="profile",
                         hint=f"choose one, or name it in `profile`: a .yaml file under PIM_HOME; {MAPS_HINT}")
    default = default_content_profile() if importer == "content" else None
    return {spec.option: str(default)} if default and spec.option else {}


def _kind(spec: Uploadable) -> str:
    """"an ERP CSV map", "a content profile"."""
    return f"{_a(spec.noun)} {(spec.option or 'profile').replace('_path', '')}"


def _not_its_kind(importer: str, profile: str, path: Path, problem: str) -> InputError:
    """The refusal of a profile or map `importer` does not read. One that another source reads is that source's
    kind, not a misspelt one of this: it says so and leaves out the key advice its problem has (a valid ERP map
    chosen for a supplier would be told to rename its keys)."""
    spec = UPLOADABLE[importer]
    others = [UPLOADABLE[i] for i in _fitting(path, [i for i in UPLOADABLE if i != importer])]
    if others:
        return InputError(f"{profile} is {' or '.join(_kind(o) for o in others)}, not {_kind(spec)}",
                          field="profile", hint=f"choose the {' or the '.join(o.label for o in others)} source, "
                          f"or pick {_kind(spec)}")
    return InputError(f"{profile} is not {_kind(spec)}: {problem}", field="profile",
                      hint=f"fix it (see schemas/{spec.schema}.schema.json) or choose another")


def plan(importer: str, filename: str, profile: str | None, user: Importing) -> UploadPlan:
    """Check an upload before its bytes are read: the importer (unknown: refused alone), the user's role for
    it (forbidden), then the file's ending and the profile together. Raises UploadRefused."""
    spec = UPLOADABLE.get(importer)
    if spec is None:
        extra = " (it reads a folder of exports: `pim import akeneo`)" if importer == "akeneo" else ""
        raise UploadRefused({"importer": f"'{importer}' cannot import an upload{extra}; allowed: "
                             f"{', '.join(sorted(UPLOADABLE))}"})
    if not user.can(importer_role(importer)):
        raise UploadRefused({"importer": f"role '{user.role}' may not import with '{importer}'"}, forbidden=True)
    errors: dict[str, str] = {}
    if not filename:
        errors["file"] = f"choose a file to import: {', '.join(spec.suffixes)}"
    elif not filename.lower().endswith(spec.suffixes):
        errors["file"] = f"'{filename}' is not {_a(spec.noun)} file: use {', '.join(spec.suffixes)}"
    try:
        options = _options(importer, spec, profile or None)
    except InputError as exc:
        errors["profile"] = exc.in_one_line()
    if errors:
        raise UploadRefused(errors)
    return UploadPlan(importer, options)


def enqueue(store: Any, upload: UploadPlan, path: Path, by: str, name: str | None = None) -> int:
    """Queue the import of the kept upload at `path` for `pim worker`; the job's id. `name`: the file's own
    name as uploaded, which tells the later uploads of the same file (pim.store.supersede.UPLOAD_IDENTITY) and
    labels the job as the command line would (`erp_xml:matmas.xml`, not the name the upload is kept under)."""
    from pim.sources import job_label

    return job_enqueue.enqueue(store, "import", job_label(upload.importer, name or path), {
        "importer": upload.importer, "path": str(path), "options": upload.options, "by": by,
        **({"name": Path(name).name} if name else {})})

