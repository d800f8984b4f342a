#!/usr/bin/env python3
"""Builds held-out benchmark scenarios from the public raw files that ../shared/data/SOURCES.md
names, with the same recipes as the shared scenarios, for days the policy was never tuned on.

The raw files are not in this repository (the Solar-Log file has no licence to redistribute).
Fetch them from the commits SOURCES.md gives, then:

  scripts/heldout.py de  entire_2024.csv 2024-05-25 7 out/de-2024-05-25-week.csv
  scripts/heldout.py dk  dtu_2024_04.csv 2024-04-08 7 HOUSE.csv out/dk-2024-04-08-week.csv
  (dk takes several raw files separated by commas, for days across months)

- de: the Solar-Log 5-min PV output and consumption (local time, UTC+2 in summer), step-held
  to 1 min; a missing 5-min row keeps the row before it (the source lacks 04:05 and 23:05).
- dk: PV = 10 kWp x GHI / 1000 W/m2 x 0.85, capped at 8.5 kW, from the DTU Lyngby 1-min GHI
  (UTC); the house load is the `house_w` column of HOUSE, a scenario with a modelled load (the
  shared dk files), minute by minute. A minute the file lacks counts as no sun; a minute
  it lists with an empty GHI is an error (a station outage is not a dark minute).

Then: cargo run --release -p sunfill-sim --example tune -- out ""
"""

import datetime as dt
import sys

DAY = dt.timedelta(days=1)
MINUTE = dt.timedelta(minutes=1)
UTC_OFFSET = dt.timedelta(hours=2)  # local time of the dk and de scenarios (summer)


def rows(path):
    """Yields (line number, fields) of a CSV, skipping its header and blank lines."""
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            fields = line.strip().split(",")
            if fields[0][:1].isdigit():
                yield n, fields


def stamp(text, path, n):
    try:
        return dt.datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        sys.exit(f"{path}:{n}: bad time {text!r} (want YYYY-MM-DD HH:MM:SS)")


def write(out, comment, first_local, values):
    with open(out, "w", encoding="utf-8") as f:
        f.write(f"# {comment}\ntime,pv_w,house_w\n")
        for i, (pv, house) in enumerate(values):
            t = first_local - UTC_OFFSET + i * MINUTE
            f.write(f"{t:%Y-%m-%dT%H:%M:%SZ},{pv},{house}\n")


def de(raw, first, days, out):
    by_time = {}
    for n, fields in rows(raw):
        if len(fields) < 3:
            sys.exit(f"{raw}:{n}: want time,output,consumption")
        by_time[stamp(fields[0], raw, n)] = (fields[1], fields[2])
    last, values = None, []
    for i in range(days * 1440):
        local = first + i * MINUTE
        slot = local - dt.timedelta(minutes=local.minute % 5)
        last = by_time.get(slot, last)
        if last is None:
            sys.exit(f"{raw}: no row at or before {slot} (local)")
        values.append(last)
    write(out, f"real 5-min Solar-Log PV output and consumption of one German house from "
          f"{first:%Y-%m-%d} (+{days} d), step-held to 1 min; held out, internal use only",
          first, values)


def dk(raws, first, days, house_path, out):
    ghi = {}
    for raw, (n, fields) in ((r, x) for r in raws.split(",") for x in rows(r)):
        if len(fields) < 2 or fields[1] == "":
            ghi[stamp(fields[0], raw, n)] = None  # an outage: an error below if in the window
            continue
        try:
            ghi[stamp(fields[0], raw, n)] = max(float(fields[1]), 0.0)
        except ValueError:
            sys.exit(f"{raw}:{n}: bad GHI {fields[1]!r}")
    house = [f[2] for _, f in rows(house_path) if len(f) >= 3]
    if len(house) < days * 1440:
        sys.exit(f"{house_path}: {len(house)} minutes of house load, need {days * 1440}")
    values = []
    for i in range(days * 1440):
        utc = first - UTC_OFFSET + i * MINUTE
        g = ghi.get(utc, 0.0)
        if g is None:
            sys.exit(f"{raws}: no GHI at {utc} UTC (a station outage); pick another day")
        values.append((f"{min(g * 8.5, 8500.0):.1f}", house[i]))
    write(out, f"PV: 10 kWp from measured 1-min GHI, DTU Lyngby {first:%Y-%m-%d} (+{days} d), "
          f"held out; house: the modelled load of {house_path.split('/')[-1]}", first, values)


def main(argv):
    try:
        kind, raw, first, days = argv[1], argv[2], argv[3], int(argv[4])
        first = dt.datetime.strptime(first, "%Y-%m-%d")
    except (IndexError, ValueError):
        sys.exit(__doc__)
    if kind == "de" and len(argv) == 6:
        de(raw, first, days, argv[5])
    elif kind == "dk" and len(argv) == 7:
        dk(raw, first, days, argv[5], argv[6])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
