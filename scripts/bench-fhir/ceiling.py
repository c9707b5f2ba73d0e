"""The FHIR server's own single-client rate for the requests hearth-fhir-client sends (the ceiling in
docs/performance.md). One keep-alive HTTP/1.1 connection, one request at a time, standard library only.

    python3 ceiling.py URL FILE bundle|resources

bundle: POST [base] with each transaction Bundle (conditional updates without their body id, as the client
sends them). resources: one request per entry, in reference order, `urn:uuid:` references rewritten to the
Location the server answered, as the client does. FILE holds one Bundle per line (fhir_throughput generate).
"""
import http.client
import json
import sys
import time
import urllib.parse


def prepare(bundle):
    for e in bundle.get("entry", []):
        if e["request"]["method"] == "PUT" and "?" in e["request"]["url"]:
            e["resource"].pop("id", None)
    return bundle


def refs(v, out):
    if isinstance(v, dict):
        for k, c in v.items():
            if k == "reference" and isinstance(c, str):
                out.append(c)
            else:
                refs(c, out)
    elif isinstance(v, list):
        for c in v:
            refs(c, out)
    return out


def rewrite(v, ids):
    if isinstance(v, dict):
        for k, c in v.items():
            if k == "reference" and isinstance(c, str) and c in ids:
                v[k] = ids[c]
            else:
                rewrite(c, ids)
    elif isinstance(v, list):
        for c in v:
            rewrite(c, ids)


def order(entries):
    unknown = {e["fullUrl"]: i for i, e in enumerate(entries)
               if "?" in e["request"]["url"] or e["request"]["method"] == "POST"}
    needs = [{unknown[r] for r in refs(e.get("resource"), []) if r in unknown and unknown[r] != i}
             for i, e in enumerate(entries)]
    done, out = set(), []
    while len(out) < len(entries):
        i = next(i for i in range(len(entries)) if i not in done and not needs[i])
        done.add(i)
        out.append(i)
        for n in needs:
            n.discard(i)
    return out


def main():
    url, path, mode = sys.argv[1], sys.argv[2], sys.argv[3]
    base = urllib.parse.urlsplit(url)
    prefix = base.path.rstrip("/")
    conn = http.client.HTTPConnection(base.hostname, base.port)
    headers = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json", "Prefer": "return=minimal"}
    bundles = [prepare(json.loads(line)) for line in open(path)]

    def call(method, target, body, extra=None):
        conn.request(method, f"{prefix}/{target}", body=json.dumps(body).encode(), headers={**headers, **(extra or {})})
        r = conn.getresponse()
        r.read()
        if r.status >= 300:
            sys.exit(f"{method} {target}: HTTP {r.status}")
        return r

    started = time.monotonic()
    for b in bundles:
        if mode == "bundle":
            call("POST", "", b)
            continue
        entries, ids = b["entry"], {}
        for e in entries:
            u = e["request"]["url"]
            if "?" not in u and e["request"]["method"] == "PUT":
                ids[e["fullUrl"]] = u
        for i in order(entries):
            e = entries[i]
            rewrite(e["resource"], ids)
            extra = {"If-None-Exist": e["request"]["ifNoneExist"]} if "ifNoneExist" in e["request"] else None
            r = call(e["request"]["method"], e["request"]["url"], e["resource"], extra)
            loc = (r.getheader("Location") or "").split("/_history")[0].split("/")
            if e["fullUrl"] not in ids and len(loc) >= 2:
                ids[e["fullUrl"]] = f"{loc[-2]}/{loc[-1]}"
    secs = time.monotonic() - started
    print(f"python-ceiling      mode={mode:<9} concurrency=1  {len(bundles)} deliveries in {secs:.1f} s = "
          f"{len(bundles) / secs:.1f} deliveries/s")


if __name__ == "__main__":
    main()
