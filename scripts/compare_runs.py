#!/usr/bin/env python3
"""Compares two runs of `menwei-edge analyze` or `menwei-edge check-models --run` (JSON lines),
such as the x86-64 build's and the aarch64 build's under qemu, and exits 1 on any difference.

Same means: the same lines in the same order, the same keys, the same strings (plate texts,
model names, output names), lists of the same length (as many faces, plates, landmarks), and
numbers within `|a - b| <= rel * max(|a|, |b|) + abs` (default 1 % + 0.02: a box corner at 400 px
may move 4 px, a score 0.02). Timings (`millis`) and file paths are not compared.

Usage: compare_runs.py REFERENCE OTHER [--rel R] [--abs A] [--label-ref x86_64] [--label aarch64]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

IGNORED = {"millis", "annotated"}


def load(path: Path) -> list[dict]:
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line.startswith("{"):
            continue  # the `ok   model  path` lines of check-models
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise SystemExit(f"compare_runs.py: {path}:{n}: not JSON: {e}")
    return rows


class Compare:
    def __init__(self, rel: float, abs_: float):
        self.rel, self.abs = rel, abs_
        self.diffs: list[str] = []
        self.numbers = 0
        self.strings = 0
        self.worst: dict[str, float] = {}  # leaf key -> largest |a - b| seen

    def walk(self, a, b, where: str, key: str = "") -> None:
        if isinstance(a, bool) or isinstance(b, bool):
            if a != b:
                self.diffs.append(f"{where}: {a!r} vs {b!r}")
        elif isinstance(a, (int, float)) and isinstance(b, (int, float)):
            self.numbers += 1
            d = abs(a - b)
            if key:
                self.worst[key] = max(self.worst.get(key, 0.0), d)
            if not (math.isfinite(a) and math.isfinite(b)) or d > self.rel * max(abs(a), abs(b)) + self.abs:
                self.diffs.append(f"{where}: {a!r} vs {b!r} (differ by {d:.4g})")
        elif isinstance(a, str) and isinstance(b, str):
            self.strings += 1
            if key == "image":
                return  # the same picture under another path
            if a != b:
                self.diffs.append(f"{where}: {a!r} vs {b!r}")
        elif isinstance(a, list) and isinstance(b, list):
            if len(a) != len(b):
                self.diffs.append(f"{where}: {len(a)} items vs {len(b)}")
                return
            for i, (x, y) in enumerate(zip(a, b)):
                self.walk(x, y, f"{where}[{i}]", key)
        elif isinstance(a, dict) and isinstance(b, dict):
            ka, kb = set(a) - IGNORED, set(b) - IGNORED
            if ka != kb:
                self.diffs.append(f"{where}: keys {sorted(ka ^ kb)} in only one run")
            for k in sorted(ka & kb):
                self.walk(a[k], b[k], f"{where}.{k}", k)
        elif a != b:
            self.diffs.append(f"{where}: {a!r} vs {b!r}")


def name_of(row: dict, i: int) -> str:
    return str(row.get("image") or row.get("model") or f"line {i + 1}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("reference", type=Path)
    p.add_argument("other", type=Path)
    p.add_argument("--rel", type=float, default=0.01)
    p.add_argument("--abs", type=float, default=0.02)
    p.add_argument("--label-ref", default="x86_64")
    p.add_argument("--label", default="aarch64")
    args = p.parse_args(argv)

    ref, other = load(args.reference), load(args.other)
    c = Compare(args.rel, args.abs)
    if not ref:
        print(f"compare_runs.py: {args.reference} has no results", file=sys.stderr)
        return 1
    if len(ref) != len(other):
        c.diffs.append(f"{len(ref)} results from {args.label_ref}, {len(other)} from {args.label}")
    faces = plates = 0
    texts = []
    for i, (a, b) in enumerate(zip(ref, other)):
        c.walk(a, b, name_of(a, i))
        faces += len(a.get("faces", []))
        for pl in a.get("plates", []):
            plates += 1
            outcome = pl.get("outcome", {})
            texts.append(outcome.get("plate") or f"({outcome.get('result', '?')})")
    print(f"compared {len(ref)} results ({args.label_ref} vs {args.label}): {faces} faces, {plates} plates, "
          f"{c.strings} strings, {c.numbers} numbers (tolerance {args.rel:.0%} + {args.abs})")
    if texts:
        print("plates read: " + " ".join(texts))
    interesting = ["x1", "y1", "x2", "y2", "x", "y", "score", "confidence", "norm", "best_score", "peak"]
    worst = [f"{k} {c.worst[k]:.3g}" for k in interesting if k in c.worst]
    if worst:
        print("largest differences: " + ", ".join(worst))
    if c.diffs:
        print(f"DIFFERENT: {len(c.diffs)} differences", file=sys.stderr)
        for d in c.diffs[:40]:
            print(f"  {d}", file=sys.stderr)
        return 1
    print("same")
    return 0


if __name__ == "__main__":
    sys.exit(main())
