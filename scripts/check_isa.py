#!/usr/bin/env python3
"""Check that the compiled extension runs no AVX code before the CPU check.

Disassembles the extension (``objdump -d``), maps every instruction to the
function and source file it belongs to (local symbols follow their FILE
symbol in the ELF symbol table), and fails if

- an AVX-512 instruction (zmm or mask registers, EVEX-only registers or
  mnemonics) appears outside ``fi_kernels_avx512.c``, or
- an AVX/AVX2 instruction (ymm registers, VEX three-operand forms of the
  kernels' math) appears outside ``fi_kernels_avx2.c`` / ``fi_kernels_avx512.c``.

Usage: python scripts/check_isa.py [path/to/_core*.so]   (default: the
installed ``fastinit._core``).  Exit code 0 when clean; prints a summary.
"""
from __future__ import annotations

import re
import subprocess
import sys
from bisect import bisect_right

AVX512_FILES = {"fi_kernels_avx512.c"}
AVX_FILES = {"fi_kernels_avx2.c", "fi_kernels_avx512.c"}

_ZMM = re.compile(r"%zmm\d+|%k[0-7]\b|%[xy]mm(1[6-9]|2\d|3[01])\b|\{%k[0-7]\}|\{1to\d+\}")
_EVEX_ONLY = re.compile(
    r"^(vpternlog|vpermt2|vpermi2|vcvtudq2|vcvtuqq2|vcvtqq2|vcvtps2uqq|vpmov[dqw][bwd]\b|"
    r"vpmovus|vpmovs[dqw]|vprol|vpror|vpsraq|vpmullq|vpcmpu?[bwdq]\b|vpcmpu?[bwdq]\s|"
    r"vblendm|vpblendm|vfixupimm|vgetexp|vgetmant|vrange|vreduce|vscalef|vrcp14|vrsqrt14|"
    r"kmov|kand|kor|kxor|knot|kshift|kortest|ktest|kunpck|vcompress|vexpand|vpconflict|"
    r"vplzcnt|vdbpsadbw|valign|vextract[fi](32x4|64x2|32x8|64x4)|vinsert[fi](32x4|64x2|32x8|64x4)|"
    r"vbroadcast[fi](32x[248]|64x[24])|vshuf[fi](32x4|64x2)|vcvtne2ps2bf16|vcvtneps2bf16|vdpbf16ps)")
_YMM = re.compile(r"%ymm\d+")
_VEX = re.compile(r"^v[a-z0-9]+")


def _symbols(path):
    """(start, end, name, file) for every function symbol, in address order."""
    out = subprocess.run(["readelf", "-sW", path], check=True, capture_output=True,
                         text=True).stdout
    funcs, current = [], None
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 8 or not parts[0].rstrip(":").isdigit():
            continue
        value, size, kind, bind, name = parts[1], parts[2], parts[3], parts[4], parts[7]
        if kind == "FILE":
            current = name
            continue
        if kind == "FUNC" and int(value, 16):
            start = int(value, 16)
            funcs.append((start, start + int(size, 0), name, current if bind == "LOCAL" else None))
    if not funcs:
        raise SystemExit(f"{path}: no function symbols (stripped?); cannot attribute code")
    return sorted(funcs)


def check(path):
    funcs = _symbols(path)
    starts = [f[0] for f in funcs]
    dis = subprocess.run(["objdump", "-d", "--no-show-raw-insn", path], check=True,
                         capture_output=True, text=True).stdout
    bad = []
    counts = {"avx512": 0, "avx": 0}
    where = {}
    for line in dis.splitlines():
        m = re.match(r"\s*([0-9a-f]+):\s+(\S+)\s*(.*)$", line)
        if not m:
            continue
        addr, mnem, ops = int(m.group(1), 16), m.group(2), m.group(3)
        text = f"{mnem} {ops}"
        is512 = bool(_ZMM.search(text) or _EVEX_ONLY.match(mnem))
        isavx = (is512 or bool(_YMM.search(text))
                 or bool(_VEX.match(mnem) and not mnem.startswith("vzeroupper")))
        if not isavx:
            continue
        i = bisect_right(starts, addr) - 1
        inside = i >= 0 and funcs[i][0] <= addr < max(funcs[i][1], funcs[i][0] + 1)
        func = funcs[i] if inside else None
        src = func[3] if func else None
        name = func[2] if func else "?"
        key = "avx512" if is512 else "avx"
        counts[key] += 1
        where.setdefault((src, key), set()).add(name)
        allowed = AVX512_FILES if is512 else AVX_FILES
        if src not in allowed:
            bad.append(f"{addr:#x} {name} ({src or 'unknown file'}): {text.strip()}")
    for (src, key), names in sorted(where.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        print(f"{key:6s} instructions in {src}: {len(names)} functions")
    if bad:
        print(f"FAIL: {len(bad)} AVX instructions outside the dispatched kernels:")
        for b in bad[:40]:
            print("  " + b)
        return 1
    print(f"OK: {counts['avx512']} AVX-512 and {counts['avx']} other AVX instructions, all "
          "inside the dispatched kernel files")
    return 0


def main(argv):
    if len(argv) > 1:
        path = argv[1]
    else:
        import fastinit._core as core

        path = core.__file__
    return check(path)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
