"""load.sh: the output folder's load procedure, written beside the payloads (and as the manifest's `load`
lines). Plain bash and curl; it loads the pending runs oldest first, then the latest, as the exporter pushes
them (Pusher.full, Pusher.incremental), and removes manifest.json once all is loaded."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import orjson

LOAD_SCRIPT = "load.sh"
LOAD_HOW = ("MEILI_URL=http://… MEILI_MASTER_KEY=… bash load.sh (or MEILI_API_KEY with write rights): loads the "
            "pending runs, oldest first, then this one, awaiting each task; stops at the first failure and may be "
            "run again. Once all is loaded it removes manifest.json and pending/: the next publish then replaces "
            "these files instead of keeping them. Loaded with other tooling? Run `pim search mark-loaded` after it "
            "(else pending/ grows with every publish). Documents go in parts (document_parts: [offset, bytes] of "
            "documents.ndjson) under the exporter's batch limit, MEILI_BATCH_BYTES.")
_JSON, _NDJSON = "-H 'Content-Type: application/json'", "-H 'Content-Type: application/x-ndjson'"
_PRELUDE = r'''#!/usr/bin/env bash
# Written by `pim publish --channel search` (no MEILI_URL): loads this folder's payloads into Meilisearch.
set -euo pipefail
cd "$(dirname "$0")"
[ -f manifest.json ] || { echo "nothing to load: manifest.json is gone (all loaded); publish again for new changes" >&2; exit 0; }
: "${MEILI_URL:?set MEILI_URL to the Meilisearch server, e.g. http://127.0.0.1:7700, and MEILI_MASTER_KEY}"
KEY="${MEILI_MASTER_KEY:-${MEILI_API_KEY:-}}"
AUTH=(); [ -z "$KEY" ] || AUTH=(-H "Authorization: Bearer $KEY")  # a server without a master key needs none
task() {  # METHOD PATH [curl options]: send, then await the task; with OK=CODE a task failing with CODE is fine
  local reply uid state
  reply=$(curl -sS --fail-with-body -X "$1" "${MEILI_URL%/}$2" ${AUTH[@]+"${AUTH[@]}"} "${@:3}") || {
    echo "Meilisearch refused $1 $2: $reply" >&2
    if grep -Eq 'missing_authorization_header|invalid_api_key' <<<"$reply"; then
      echo "set MEILI_MASTER_KEY (or MEILI_API_KEY) to a key allowed to write to the indexes, then run this again" >&2
    fi
    return 1; }
  uid=$(sed -n 's/.*"taskUid": *\([0-9][0-9]*\).*/\1/p' <<<"$reply")
  [ -n "$uid" ] || { echo "no task in Meilisearch's answer to $1 $2: $reply" >&2; return 1; }
  while state=$(curl -sS --fail-with-body "${MEILI_URL%/}/tasks/$uid" ${AUTH[@]+"${AUTH[@]}"}); do
    if grep -Eq '"status": *"succeeded"' <<<"$state"; then return 0; fi
    if grep -Eq '"status": *"(failed|canceled)"' <<<"$state"; then
      if [ -n "${OK:-}" ] && grep -Eq "\"code\": *\"$OK\"" <<<"$state"; then return 0; fi
      echo "task $uid ($1 $2) did not succeed: $state" >&2; return 1
    fi
    sleep 0.2
  done
  echo "could not read task $uid at $MEILI_URL: $state" >&2; return 1
}
need_index() {  # UID: changes are loaded only into an index that is there
  curl -sS --fail-with-body -o /dev/null "${MEILI_URL%/}/indexes/$1" ${AUTH[@]+"${AUTH[@]}"} || {
    echo "index $1 is not on $MEILI_URL, and these files hold only changes: rebuild it with" \
         "pim publish --channel search --full, then run this again" >&2
    exit 1; }
}
sized() {  # FILE BYTES: FILE is sent in parts (byte ranges), which hold only while it is as it was written
  local n; n=$(( $(wc -c <"$1") ))
  [ "$n" -eq "$2" ] || { echo "$1 is $n bytes, not the $2 written by the publish, so its parts would be cut" \
    "wrongly: publish again with pim publish --channel search --full, then run this again" >&2; exit 1; }
}
part() { tail -c "+$(( $2 + 1 ))" "$1" | head -c "$3"; }  # FILE OFFSET BYTES: one part, to send'''


def load_lines(manifest: dict[str, Any]) -> list[str]:
    """load.sh, line by line: each pending run, oldest first, then the manifest's own run, pushed as the
    exporter pushes one (Pusher.full, Pusher.incremental); removing the manifest last marks all loaded."""
    lines = _PRELUDE.splitlines()
    for run in [*manifest.get("pending", []), {**manifest, "folder": ""}]:
        if run["indexes"]:
            lines += [f"# job {run.get('job')}, written at {run.get('written_at')}", *_run_lines(run)]
    return [*lines, "rm -rf pending manifest.json", 'echo "loaded into $MEILI_URL"']


def _run_lines(run: dict[str, Any]) -> list[str]:
    """One run: rebuilt indexes filled beside the live ones and swapped in by one call (every locale at once),
    then the others updated in place: settings, deletes, documents."""
    q, lines = shlex.quote, []
    full = [e for e in run["indexes"] if e["mode"] == "full"]
    for e in full:
        uid, build, where = e["uid"], f"{e['uid']}_build", entry_folder(run, e)
        lines += [f"OK=index_not_found task DELETE /indexes/{q(build)}",  # a load that failed may have left one
                  f"task POST /indexes {_JSON} --data-binary {q(_compact({'uid': build, 'primaryKey': 'id'}))}",
                  f"task PATCH /indexes/{q(build)}/settings {_JSON} --data-binary @{q(where + '/settings.json')}"]
        if e.get("documents"):
            lines += _documents_lines(build, where, e)
        lines.append(f"OK=index_already_exists task POST /indexes {_JSON} "
                     f"--data-binary {q(_compact({'uid': uid, 'primaryKey': 'id'}))}")
    if full:
        pairs = [{"indexes": [e["uid"], f"{e['uid']}_build"]} for e in full]
        lines.append(f"task POST /swap-indexes {_JSON} --data-binary {q(_compact(pairs))}")
        lines += [f"task DELETE /indexes/{q(e['uid'] + '_build')}" for e in full]
    for e in run["indexes"]:
        if e["mode"] == "full":
            continue
        uid, where = e["uid"], entry_folder(run, e)
        lines += [f"need_index {q(uid)}",
                  f"task PATCH /indexes/{q(uid)}/settings {_JSON} --data-binary @{q(where + '/settings.json')}"]
        if e.get("deletes"):
            lines.append(f"task POST /indexes/{q(uid)}/documents/delete-batch {_JSON} "
                         f"--data-binary @{q(where + '/deletes.json')}")
        if e.get("documents"):
            lines += _documents_lines(uid, where, e)
    return lines


def _documents_lines(uid: str, where: str, entry: dict[str, Any]) -> list[str]:
    """Send an index's documents.ndjson: in one request when it fits one (or the manifest is from before round
    33, without parts), else each part, a byte range of the file under the exporter's batch limit, and await
    its task, so Meilisearch's payload limit (100 MB by default) holds for any catalog."""
    q, file = shlex.quote, where + "/documents.ndjson"
    send = f"task POST {q('/indexes/' + uid + '/documents?primaryKey=id')} {_NDJSON} --data-binary"
    parts = entry.get("document_parts") or []
    if len(parts) < 2:
        return [f"{send} @{q(file)}"]
    return [f"sized {q(file)} {entry['document_bytes']}",
            *(f"{send} @<(part {q(file)} {offset} {size})" for offset, size in parts)]


def entry_folder(run: dict[str, Any], entry: dict[str, Any]) -> str:
    """Where an index's files of `run` are, relative to search/: <uid> for the latest run, else under pending/."""
    return f"{run['folder']}/{entry['uid']}" if run.get("folder") else entry["uid"]


def _compact(value: Any) -> str:
    return orjson.dumps(value).decode()


def write_loader(search: Path, manifest: dict[str, Any]) -> None:
    """manifest.json, with load.sh's lines as its `load`, and load.sh itself (executable)."""
    lines = load_lines(manifest)
    script = search / LOAD_SCRIPT
    script.write_text("\n".join(lines) + "\n", encoding="utf-8")
    script.chmod(0o755)
    body = {**manifest, "load_how": LOAD_HOW, "load": lines}
    (search / "manifest.json").write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2))
