#!/usr/bin/env python3
"""Generate crates/hearth-fhir/src/r4-elements.txt: every FHIR R4 type's elements in specification order.

Usage:
    scripts/gen-fhir-elements.py [SCHEMA_FILE] [OUTPUT_FILE] [FHIRBOLT_REGISTRY_DIR]

SCHEMA_FILE defaults to $HEARTH_CORPUS/fhir/fhir.r4.schema.json (HEARTH_CORPUS defaults to ../shared/corpus), HL7's
official R4 JSON schema, whose `properties` list each type's elements in the order the specification (and so
fhirbolt's writer) uses. The output is committed: Hearth stands alone without the corpus; run this only to refresh it.

Output: one line per complex type (resources, datatypes, backbone elements such as `Patient_Contact`):
    Name element:KIND[*][|CHOICE] ...
KIND is `s` (JSON string), `b` (boolean), `d` (decimal), `i` (integer, 32 bits signed), `u` (positiveInt or
unsignedInt, 32 bits unsigned), `R` (any resource, by its `resourceType`) or the name of a complex type; `*` marks a
list; `|CHOICE` names the choice element (`value[x]` is `value`) that the element is one form of. The `_element`
companions of primitives are not listed: they follow their primitive and hold an `Element`. A `!` after the kind
marks an element fhirbolt's strict reading requires (present as a value or as its `_element` companion; for a
choice, one of its forms): the schema's `required` lists leave out primitives, so these come from fhirbolt's R4 model
(fhirbolt-model 0.4.0 under FHIRBOLT_REGISTRY_DIR, default: cargo's registry sources), where a required element is a
struct field that is neither an `Option` nor a `Vec`.

The order is the schema's except where fhirbolt's writer (fhirbolt-serde 0.4.0) writes another: its `Extension`
puts `url` and the value before `extension`, where the specification lists `extension` first. Hearth's output is
fhirbolt's bytes, so fhirbolt's writer decides; the script says which types that changed.
"""

import glob
import json
import os
import re
import sys

FIELD_RE = re.compile(r"^    pub r#([a-z0-9_]+): (.+),$")
STRUCT_RE = re.compile(r"^pub struct ([A-Za-z0-9]+) \{$")


def fhirbolt_required(model_dir):
    """{struct name: {snake_case field}} of the fields fhirbolt's R4 model requires."""
    out = {}
    files = glob.glob(os.path.join(model_dir, "src", "generated", "r4", "*", "*.rs"))
    if not files:
        raise SystemExit(f"no fhirbolt R4 model sources under {model_dir}")
    for path in files:
        current = None
        with open(path, encoding="utf-8") as f:
            for line in f:
                m = STRUCT_RE.match(line)
                if m:
                    current = out.setdefault(m.group(1), set())
                    continue
                if line.startswith("}"):
                    current = None
                    continue
                m = FIELD_RE.match(line.rstrip("\n"))
                if current is not None and m and not m.group(2).startswith(("Option<", "Vec<")):
                    current.add(m.group(1))
    return out


IMPL_RE = re.compile(r"impl serde::ser::Serialize for SerializationContext<&(?:[A-Za-z0-9_]+::)*([A-Za-z0-9]+)>")
ENTRY_RE = re.compile(r'serialize_entry\(\s*"([A-Za-z0-9]+)"')


def fhirbolt_write_order(serde_dir):
    """{type name: [element names in the order fhirbolt writes them]}."""
    out = {}
    files = glob.glob(os.path.join(serde_dir, "src", "model", "generated", "r4", "*", "*.rs"))
    if not files:
        raise SystemExit(f"no fhirbolt R4 serde sources under {serde_dir}")
    for path in files:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for block in text.split("\nimpl ")[1:]:
            m = IMPL_RE.match("impl " + block)
            if not m:
                continue
            order = out.setdefault(m.group(1), [])
            if order:
                continue
            for name in ENTRY_RE.findall(block.split("fn deserialize", 1)[0]):
                if name not in order:
                    order.append(name)
    return out


def snake(name):
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)

def primitive_kind(definition):
    t = definition.get("type")
    if t == "boolean":
        return "b"
    if t == "number":
        pattern = definition.get("pattern", "")
        if "\\." in pattern:
            return "d"
        return "i" if pattern.startswith("^-?") else "u"
    return "s"


def kind_of(prop, definitions):
    if "const" in prop or "enum" in prop:
        return "s"
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[1]
        if name == "ResourceList":
            return "R"
        target = definitions[name]
        if "properties" in target:
            return name
        return primitive_kind(target)
    if "type" in prop:
        return primitive_kind(prop)
    raise ValueError(f"unknown property shape: {prop}")


def type_names(definitions):
    """Capitalised names of every type a choice element can take (`valueDateTime` ends with `DateTime`)."""
    names = set()
    for name, d in definitions.items():
        if "_" in name or name == "ResourceList":
            continue
        names.add(name[0].upper() + name[1:])
    return names


def choices(props, types):
    """element -> choice base, for runs of two or more consecutive elements `base + Type` sharing a base."""
    bases = {}
    for p in props:
        for t in types:
            if p.endswith(t) and len(p) > len(t) and p[: -len(t)][-1].islower():
                bases.setdefault(p[: -len(t)], []).append(p)
    out = {}
    for base, members in bases.items():
        if len(members) >= 2:
            for m in members:
                out[m] = base
    return out


def main():
    corpus = os.environ.get("HEARTH_CORPUS", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "corpus"))
    schema_file = sys.argv[1] if len(sys.argv) > 1 else os.path.join(corpus, "fhir", "fhir.r4.schema.json")
    out_file = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
        os.path.dirname(__file__), "..", "crates", "hearth-fhir", "src", "r4-elements.txt")
    registry = sys.argv[3] if len(sys.argv) > 3 else (sorted(glob.glob(os.path.expanduser(
        "~/.cargo/registry/src/*/"))) or [""])[0]
    required = fhirbolt_required(os.path.join(registry, "fhirbolt-model-0.4.0"))
    write_order = fhirbolt_write_order(os.path.join(registry, "fhirbolt-serde-0.4.0"))
    with open(schema_file, encoding="utf-8") as f:
        definitions = json.load(f)["definitions"]
    types = type_names(definitions)
    lines = []
    for name, d in definitions.items():
        if "properties" not in d:
            continue
        props = [p for p in d["properties"] if not p.startswith("_")]
        # fhirbolt may write forms the schema lacks (Extension.valueMeta): those stay unknown here (the writer refuses
        # them and fhirbolt decides).
        written = [p for p in write_order.get(name.replace("_", ""), []) if p in props]
        if written and set(written) != set(props):
            # fhirbolt's model lacks them (Timing.repeat.modifierExtension): its strict reading refuses them, so the
            # writer must not know them either.
            print(f"{name}: left out, fhirbolt has no {sorted(set(props) - set(written))}", file=sys.stderr)
        if written and written != [p for p in props if p in written]:
            print(f"{name}: fhirbolt's order, not the schema's", file=sys.stderr)
            props = written
        choice = choices(props, types)
        needs = required.get(name.replace("_", ""), set())
        fields = []
        for p in props:
            prop = d["properties"][p]
            many = prop.get("type") == "array"
            kind = kind_of(prop["items"] if many else prop, definitions)
            field = f"{p}:{kind}{'*' if many else ''}"
            if snake(choice.get(p, p)) in needs and not many:
                field += "!"
            if p in choice:
                field += f"|{choice[p]}"
            fields.append(field)
        lines.append(" ".join([name] + fields))
    with open(out_file, "w", encoding="utf-8") as f:
        f.write("# Generated by scripts/gen-fhir-elements.py from HL7's FHIR R4 JSON schema; do not edit.\n")
        for line in lines:
            f.write(line + "\n")
    print(f"{len(lines)} types written to {out_file}", file=sys.stderr)


if __name__ == "__main__":
    main()
