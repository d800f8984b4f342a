#!/usr/bin/env python3
"""How often a dip below the car's minimum power ends within 3 minutes, by its depth and by how
the surplus moved in the minute before (up, down, or flat: within 5 % of the minimum power).

Only dips within 30 minutes of sun count (daytime). A measurement for BENCHMARKS.md, session 14:

    python3 scripts/dip_trend.py ../shared/data/scenarios 'dk-*'
"""
import collections
import glob
import os
import sys


def surplus(path):
    out = []
    with open(path) as f:
        for line in f:
            if line.startswith("#") or line.startswith("time"):
                continue
            _, pv, house = line.strip().split(",")
            out.append(float(pv) - float(house))
    return out


def main():
    folder = sys.argv[1] if len(sys.argv) > 1 else "../shared/data/scenarios"
    pattern = sys.argv[2] if len(sys.argv) > 2 else "*"
    files = sorted(glob.glob(os.path.join(folder, pattern + ".csv")))
    for phases in (1, 3):
        pmin = phases * 230 * 6
        stats = collections.defaultdict(lambda: [0, 0])
        for path in files:
            s = surplus(path)
            for i in range(1, len(s) - 3):
                if s[i] >= pmin or not any(x >= pmin for x in s[max(0, i - 30):i]):
                    continue
                d = s[i] - s[i - 1]
                move = "up" if d > 0.05 * pmin else ("down" if d < -0.05 * pmin else "flat")
                depth = "0.5-1" if s[i] >= 0.5 * pmin else "<0.5"
                st = stats[(depth, move)]
                st[0] += 1
                st[1] += any(x >= pmin for x in s[i + 1:i + 4])
        print(f"{phases} phase(s), {len(files)} files: surplus / minimum, last minute's move, "
              "dip minutes, share ending within 3 min")
        for (depth, move), (n, ends) in sorted(stats.items()):
            print(f"  {depth:5} {move:4} {n:5} {ends / n:5.2f}")


if __name__ == "__main__":
    main()
