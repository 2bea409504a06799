"""The safetensors header, checked exactly as strictly as the ``safetensors`` library.

A safetensors file is an 8-byte little-endian header length ``n``, ``n``
bytes of UTF-8 JSON, then the data section. The reference reader (Rust,
``serde_json``) refuses a file when

* ``n > 100_000_000`` or ``8 + n`` is more than the file;
* the header is not UTF-8, or not JSON by ``serde_json``'s rules: no
  ``NaN``/``Infinity``, no number that overflows a double, no lone UTF-16
  surrogate escape, nesting deeper than 127 levels;
* the top level is not an object, ``__metadata__`` (at most once) is not
  null or an object of strings, a tensor entry is not an object (or a
  3-element array) with exactly one ``dtype`` (a known name), ``shape``
  (unsigned 64-bit integers; ``-0`` is a float there) and ``data_offsets``
  (two of them);
* sorted by ``data_offsets``, the tensors do not tile the data section
  exactly: the first must start at 0, each where the previous one ends
  (no gap, no overlap, no alias of a non-empty tensor), each spanning
  ``prod(shape) * itemsize`` bytes, the last ending at the end of the file.

A tensor name that appears twice keeps its last entry (as both JSON
readers do). Unknown keys inside an entry are ignored.
"""
from __future__ import annotations

import json
import math
import re

MAX_HEADER = 100_000_000
# serde_json's recursion limit: nesting deeper than this is refused
MAX_DEPTH = 127
_U64 = 1 << 64
_FIELDS = ("dtype", "shape", "data_offsets")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")


class _Obj(dict):
    """A JSON object that remembers which of its keys were repeated."""

    __slots__ = ("dups",)


class _Signed(int):
    """An integer literal written with a minus sign (``serde_json`` reads
    ``-0`` as a float, so it is no unsigned integer)."""


def _pairs(pairs):
    obj = _Obj(pairs)
    obj.dups = None
    if len(obj) != len(pairs):
        seen, obj.dups = set(), set()
        for k, _ in pairs:
            (obj.dups if k in seen else seen).add(k)
    return obj


def _int(text):
    try:
        value = int(text)
        float(value)
    except (ValueError, OverflowError):
        raise ValueError(f"number out of range ({len(text)} digits)") from None
    return _Signed(value) if text.startswith("-") else value


def _float(text):
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number out of range: {text[:40]}")
    return value


def _constant(text):
    raise ValueError(f"{text} is not JSON")


def _depth(value):
    """Nesting depth of a parsed JSON value (0 for a scalar), iteratively."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            deepest = max(deepest, d)
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            deepest = max(deepest, d)
            stack.extend((x, d + 1) for x in v)
    return deepest


def _strings(value):
    """Every key and string of a parsed JSON value."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            yield v
        elif isinstance(v, dict):
            yield from v.keys()
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)


def _is_u64(v):
    return type(v) is int and 0 <= v < _U64


def decode(raw):
    """The header object of ``raw`` (the header bytes); ValueError saying why not."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"not valid JSON: not UTF-8 ({e})") from None
    try:
        header = json.loads(text, object_pairs_hook=_pairs, parse_int=_int,
                            parse_float=_float, parse_constant=_constant)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
    except ValueError as e:
        raise ValueError(f"not valid JSON: {e}") from None
    if _SURROGATE_ESCAPE.search(raw) and any(
            re.search("[\ud800-\udfff]", s) for s in _strings(header)):
        raise ValueError("not valid JSON: a lone UTF-16 surrogate escape")
    if not isinstance(header, dict):
        raise ValueError(f"expected a JSON object, got {type(header).__name__}")  # noqa: TRY004
    if header.dups and "__metadata__" in header.dups:
        raise ValueError("__metadata__ appears twice")
    return header


def entries(header, dtypes):
    """``(metadata, {name: (shape, st_dtype, begin, end)})`` of a decoded header,
    checked field by field; ValueError naming the entry at fault."""
    meta = header.pop("__metadata__", None)
    if meta is not None and not (isinstance(meta, dict) and all(
            isinstance(v, str) for v in meta.values())):
        raise ValueError("__metadata__ must be null or map strings to strings")
    out = {}
    for name, entry in header.items():
        where = f"entry for tensor {name!r}"
        if isinstance(entry, list) and len(entry) == 3:  # serde reads a struct from an array
            entry = _Obj(zip(("dtype", "shape", "data_offsets"), entry))
            entry.dups = None
        if not isinstance(entry, dict):
            raise ValueError(f"{where}: expected an object, got {entry!r:.80}")  # noqa: TRY004
        if entry.dups:
            raise ValueError(f"{where}: repeated keys {sorted(entry.dups)}")
        st = entry.get("dtype")
        if not isinstance(st, str) or st not in dtypes:
            raise ValueError(f"{where}: dtype {st!r:.40} is not one of " + ", ".join(dtypes))
        shape = entry.get("shape")
        if not (isinstance(shape, list) and all(_is_u64(d) for d in shape)):
            raise ValueError(f"{where}: shape must be a list of non-negative 64-bit "
                             f"integers, got {shape!r:.80}")
        offs = entry.get("data_offsets")
        if not (isinstance(offs, list) and len(offs) == 2 and all(_is_u64(o) for o in offs)):
            raise ValueError(f"{where}: data_offsets must be [begin, end] (non-negative "
                             f"64-bit integers), got {offs!r:.80}")
        for key, value in entry.items():  # unknown keys: ignored, but still JSON
            if key not in _FIELDS and 2 + _depth(value) > MAX_DEPTH:
                raise ValueError(f"{where}: JSON nested more than {MAX_DEPTH} levels deep")
        out[name] = (tuple(shape), st, offs[0], offs[1])
    return meta, out


def check_tiling(tensors, itemsize, data_size):
    """The tensors, sorted by offsets, must tile ``[0, data_size)`` exactly."""
    pos = 0
    for name, (shape, st, begin, end) in sorted(tensors.items(), key=lambda kv: kv[1][2:]):
        if begin != pos or end < begin:
            what = ("overlaps the tensor before it" if begin < pos else
                    f"leaves a gap of {begin - pos} bytes" if begin > pos else
                    "ends before it begins")
            raise ValueError(f"tensor {name!r}: data_offsets [{begin}, {end}] {what} "
                             f"(tensors must tile the data section from 0 with no gap "
                             f"and no overlap; the previous one ends at {pos})")
        pos = end
        need = itemsize[st]
        for d in shape:
            need *= d
        if end - begin != need:
            raise ValueError(f"tensor {name!r}: shape {list(shape)} of {st} needs {need} "
                             f"bytes but data_offsets [{begin}, {end}] span {end - begin}")
    if pos != data_size:
        raise ValueError(f"the tensors end at data byte {pos} but the data section has "
                         f"{data_size} bytes (" + ("trailing bytes" if pos < data_size else
                                                   "truncated file") + ")")
