#!/usr/bin/env python3
"""Generate mappings/vocabulary/ig-concept-maps.csv from the HL7 v2-to-FHIR IG's concept map CSVs.

Usage:
    scripts/gen-vocabulary.py [CODESYSTEMS_DIR] [OUTPUT_FILE]

CODESYSTEMS_DIR defaults to $HEARTH_CORPUS/v2-to-fhir/mappings/codesystems (HEARTH_CORPUS defaults to
../shared/corpus); OUTPUT_FILE to mappings/vocabulary/ig-concept-maps.csv. The output is committed: Hearth stands
alone without the corpus, and this script is only needed to refresh it when the IG changes.

Each IG file is `HL7 Concept Map_ <Name> - Sheet1.csv`, row 1 groups the columns (HL7 v2, Condition, HL7 FHIR,
Comments), row 2 names them (Code, Text, Code System, conditions..., Code, [display], Display, Code System). The
column layout varies between files, so columns are located by the group row, not by position.

Output (one row per v2 code, sorted by map then IG order; `#` lines are comments):
    map,v2_code,v2_display,v2_system,code,display,system
A row with an empty `v2_code` only declares a map whose IG table lists no v2 codes (a user-defined table).
A row with an empty `code` says "the IG has no FHIR equivalent for this v2 code": the mapper carries the v2 code
with its source system instead of inventing one. Where the IG lists a code twice (conditional alternatives, e.g.
SegmentActionCode U -> PUT or PATCH "by local assessment"), the first row wins and the others are reported on
stderr; a channel that wants the alternative overrides it (see docs/mapping-coverage.md).
"""

import csv
import glob
import os
import re
import sys

NAME_RE = re.compile(r"^HL7 Concept Map_ (.+) - Sheet1\.csv$")


def columns(groups, names):
    """Locate the v2 code/text/system and FHIR code/display/system columns of one file."""
    groups = [g.strip().lower() for g in groups]
    names = [n.strip().lower() for n in names]
    try:
        fhir = groups.index("hl7 fhir")
    except ValueError:
        raise SystemExit("no 'HL7 FHIR' column group")
    end = len(names)
    for i in range(fhir + 1, len(groups)):
        if groups[i]:
            end = i
            break
    fhir_names = names[fhir:end]
    code = fhir + fhir_names.index("code")
    system = fhir + len(fhir_names) - 1 - fhir_names[::-1].index("code system")
    display = fhir + fhir_names.index("display") if "display" in fhir_names else None
    # Some files put the display in the unnamed column right after the code and leave "Display" empty.
    alt_display = code + 1 if code + 1 < system and names[code + 1] == "" else None
    return {
        "v2_code": names.index("code"),
        "v2_text": names.index("text"),
        "v2_system": names.index("code system"),
        "conditions": list(range(names.index("code system") + 1, fhir)),
        "code": code,
        "display": display,
        "alt_display": alt_display,
        "system": system,
    }


def cell(row, i):
    if i is None or i >= len(row):
        return ""
    # Collapse the IG's occasional double spaces and stray newlines inside a cell.
    return " ".join(row[i].split())


def convert(path):
    name = NAME_RE.match(os.path.basename(path))
    if not name:
        return None, []
    map_name = name.group(1)
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f))
    if len(rows) < 2:
        return map_name, []
    cols = columns(rows[0], rows[1])
    out, seen = [], set()
    for row in rows[2:]:
        v2 = cell(row, cols["v2_code"])
        if not v2:
            continue  # a FHIR code with no v2 source: nothing to look up
        if v2 in seen:
            print(f"note: {map_name}: v2 code {v2!r} listed again (conditional alternative); first row kept",
                  file=sys.stderr)
            continue
        seen.add(v2)
        display = cell(row, cols["display"]) or cell(row, cols["alt_display"])
        code = cell(row, cols["code"])
        out.append([
            map_name,
            v2,
            cell(row, cols["v2_text"]),
            cell(row, cols["v2_system"]),
            code,
            display if code else "",
            cell(row, cols["system"]) if code else "",
        ])
    return map_name, out


def main():
    corpus = os.environ.get("HEARTH_CORPUS") or os.path.join(os.path.dirname(__file__), "..", "..", "shared",
                                                              "corpus")
    src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(corpus, "v2-to-fhir", "mappings", "codesystems")
    dst = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "..", "mappings",
                                                             "vocabulary", "ig-concept-maps.csv")
    files = sorted(glob.glob(os.path.join(src, "*.csv")))
    if not files:
        raise SystemExit(f"no CSV files in {src}")
    rows, maps = [], 0
    for path in files:
        map_name, out = convert(path)
        if map_name is None:
            print(f"note: skipped {os.path.basename(path)} (not a concept map file)", file=sys.stderr)
            continue
        maps += 1
        # A map whose IG table lists only FHIR targets (a user-defined v2 table) is still declared, with one row
        # and no v2 code, so the mapper knows the name and carries local codes with their source system.
        rows.extend(out or [[map_name, "", "", "", "", "", ""]])
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    with open(dst, "w", encoding="utf-8", newline="") as f:
        f.write("# Generated by scripts/gen-vocabulary.py from the HL7 v2-to-FHIR IG concept map CSVs.\n")
        f.write("# Do not edit by hand: override per channel instead (channel `vocabulary = \"path\"`).\n")
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["map", "v2_code", "v2_display", "v2_system", "code", "display", "system"])
        w.writerows(rows)
    codes = sum(1 for r in rows if r[1])
    print(f"wrote {codes} codes from {maps} maps to {os.path.normpath(dst)}", file=sys.stderr)


if __name__ == "__main__":
    main()
