"""Decoding only the value keys a bulk reader needs from a stored value map.

A product's value map is a few kilobytes of JSON (descriptions in every locale, dozens of attributes), and
building all of it as Python objects was half of a full completeness rebuild. A reader that needs a known
set of keys (a family's required values, the unique attributes) gets a msgspec decoder for a struct with
just those fields: the parser still reads the whole document but builds objects only for those keys.

A key absent from the map stays absent from the result; a key stored as JSON null comes back as None, as a
full decode would give it (a variant's explicit null still hides its model's value)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import msgspec
import orjson


class PartialDecoder:
    """`decode(raw)` → dict of the wanted keys present in `raw` (JSON text or bytes, or an already decoded
    mapping: a dict on PostgreSQL, a merge delta's lazily decoded value map). With `raw=True`, `raw(text)`
    gives those keys' JSON undecoded instead (msgspec.Raw), for a writer that splices them back."""

    def __init__(self, keys: Iterable[str], *, raw: bool = False) -> None:
        self.keys = tuple(sorted(set(keys)))
        fields = [(f"k{n}", msgspec.Raw if raw else Any, msgspec.UNSET) for n in range(len(self.keys))]
        struct = msgspec.defstruct("PartialValues", fields,  # type: ignore[arg-type]
                                   rename={f"k{n}": key for n, key in enumerate(self.keys)})
        self._decoder = msgspec.json.Decoder(struct)

    def decode(self, raw: Any) -> dict[str, Any]:
        if raw is None:
            return {}
        if isinstance(raw, Mapping):
            text = getattr(raw, "unsplit_text", None)  # a map still held as JSON text (pim.partial_merge.RawValues)
            if text is None:
                return self._pick(raw)
            raw = text
        try:  # to_builtins gives the struct back as a dict under the JSON key names, leaving out unset fields
            return msgspec.to_builtins(self._decoder.decode(raw))  # type: ignore[no-any-return]
        except msgspec.DecodeError:  # e.g. a key that is not text: let the full decoder say what is wrong
            return self._pick(orjson.loads(raw))

    def raw(self, text: str | bytes) -> dict[str, msgspec.Raw]:
        """The wanted keys present in the JSON object `text`, each as its raw JSON (a `raw=True` decoder)."""
        found = msgspec.structs.astuple(self._decoder.decode(text))
        return {k: v for k, v in zip(self.keys, found) if v is not msgspec.UNSET}

    def _pick(self, values: Mapping[str, Any]) -> dict[str, Any]:
        return {k: values[k] for k in self.keys if k in values}
