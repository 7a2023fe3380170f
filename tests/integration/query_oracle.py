#!/usr/bin/env python3
"""query_oracle.py - an independent model of `kaudit query` row selection (python3 standard
library only). It reads audit events from JSON-lines files (a line may also hold an EventList
or an array of events; a file may hold one multi-line JSON document), applies the filters with
the semantics documented in docs/query.md, selects rows (latest stage per auditID, or events
for --stage) and prints them in order, one per line:

    --print raw   the input line of each row (for canonical input this equals `-o jsonl`)
    --print key   a JSON projection of each row (auditID, stage, verb, user, objectRef, code,
                  requestReceivedTimestamp) for comparison with kaudit's JSON output

Usage: query_oracle.py [--print raw|key] [filters as kaudit query takes them] -- FILE...
Filters: --user --as --group --verb --resource --namespace --name --code --decision
--source-ip --user-agent --cluster --grep --stage --since --until --limit (times: RFC 3339
only; durations are resolved by the caller).
"""
import gzip
import ipaddress
import json
import re
import sys

STAGES = {"RequestReceived": 1, "ResponseStarted": 2, "ResponseComplete": 3, "Panic": 4}
LISTS = {"--user", "--as", "--group", "--verb", "--resource", "--namespace", "--name",
         "--code", "--source-ip", "--cluster"}
SINGLE = {"--user-agent", "--grep"}


def parse_time(s):
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.(\d+))?"
                     r"(Z|z|[+-]\d\d:\d\d)", s)
    if not m:
        return None
    import calendar
    y, mo, d, h, mi, se = (int(m.group(i)) for i in range(1, 7))
    frac = (m.group(7) or "")[:9].ljust(9, "0")
    sec = calendar.timegm((y, mo, d, h, mi, se, 0, 0, 0))
    tz = m.group(8)
    if tz not in ("Z", "z"):
        off = int(tz[1:3]) * 3600 + int(tz[4:6]) * 60
        sec -= off if tz[0] == "+" else -off
    return (sec, int(frac))


def glob_re(pat):
    out = []
    for ch in pat:
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.S)


def glob_any(pats, val):
    if not isinstance(val, str) or val == "":
        return False
    return any(p.fullmatch(val) for p in pats)


def parse_resource(p):
    main, _, sub = p.partition("/")
    has_sub = "/" in p
    res, dot, group = main.partition(".")
    if dot and group == "core":
        group = ""
    return (res, group if dot else None, sub if has_sub else None)


def resource_ok(pat, ref):
    res, group, sub = pat
    r = ref.get("resource") or ""
    if not r:
        return False
    if res != "*" and r != res:
        return False
    g = ref.get("apiGroup") or ""
    if group is not None and g != group:
        return False
    s = ref.get("subresource") or ""
    if sub is None:
        return res == "*" or s == ""
    if sub == "*":
        return s != "" if res == "*" else True
    return s == sub


def parse_code(c):
    neg = c.startswith("!")
    c = c[1:] if neg else c
    if re.fullmatch(r"[1-9][xX][xX]", c):
        lo = int(c[0]) * 100
        return (lo, lo + 99, neg)
    return (int(c), int(c), neg)


def codes_ok(codes, ev):
    st = ev.get("responseStatus")
    if not isinstance(st, dict) or not isinstance(st.get("code"), int):
        return False
    code = st["code"]
    pos = [c for c in codes if not c[2]]
    for lo, hi, neg in codes:
        if neg and lo <= code <= hi:
            return False
    return not pos or any(lo <= code <= hi for lo, hi, _ in pos)


def net_of(s):
    n = ipaddress.ip_network(s, strict=False)
    if n.version == 6 and n.network_address.ipv4_mapped is not None and n.prefixlen >= 96:
        n = ipaddress.ip_network("%s/%d" % (n.network_address.ipv4_mapped, n.prefixlen - 96),
                                 strict=False)
    return n


def ip_ok(nets, ev):
    for a in ev.get("sourceIPs") or []:
        try:
            ip = ipaddress.ip_address(a)
        except ValueError:
            continue
        if ip.version == 6 and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if any(ip.version == n.version and ip in n for n in nets):
            return True
    return False


def ann(ev, key):
    a = ev.get("annotations")
    return a.get(key) if isinstance(a, dict) else None


class Query:
    def __init__(self, args):
        self.f = {}
        self.stage = "requests"
        self.since = self.until = None
        self.limit = 0
        self.decision = None
        i = 0
        while i < len(args):
            k, v = args[i], args[i + 1]
            i += 2
            if k in LISTS:
                self.f.setdefault(k, []).extend(v.split(","))
            elif k in SINGLE:
                self.f.setdefault(k, []).append(v)
            elif k == "--decision":
                self.decision = v
            elif k == "--stage":
                self.stage = v
            elif k == "--since":
                self.since = parse_time(v)
            elif k == "--until":
                self.until = parse_time(v)
            elif k == "--limit":
                self.limit = int(v)
            else:
                raise SystemExit("oracle: unknown filter " + k)
        g = lambda k: [glob_re(p) for p in self.f.get(k, [])]
        self.users, self.as_, self.groups = g("--user"), g("--as"), g("--group")
        self.nss, self.names, self.uas, self.clusters = (g("--namespace"), g("--name"),
                                                         g("--user-agent"), g("--cluster"))
        self.res = [parse_resource(p) for p in self.f.get("--resource", [])]
        self.codes = [parse_code(c) for c in self.f.get("--code", [])]
        self.nets = [net_of(c) for c in self.f.get("--source-ip", [])]

    def match(self, ev, raw):
        f = self.f
        if any(gr.encode() not in raw for gr in f.get("--grep", [])):
            return False
        if self.since or self.until:
            t = ts(ev)
            if t is None or (self.since and t < self.since) or (self.until and t >= self.until):
                return False
        if "--verb" in f and ev.get("verb") not in f["--verb"]:
            return False
        user = ev.get("user") if isinstance(ev.get("user"), dict) else {}
        if self.users and not glob_any(self.users, user.get("username")):
            return False
        imp = ev.get("impersonatedUser")
        if self.as_ and not (isinstance(imp, dict) and glob_any(self.as_, imp.get("username"))):
            return False
        if self.groups and not any(glob_any(self.groups, x) for x in user.get("groups") or []):
            return False
        ref = ev.get("objectRef") if isinstance(ev.get("objectRef"), dict) else {}
        if self.nss and not glob_any(self.nss, ref.get("namespace")):
            return False
        if self.names and not glob_any(self.names, ref.get("name")):
            return False
        if self.uas and not glob_any(self.uas, ev.get("userAgent")):
            return False
        if self.clusters and not glob_any(self.clusters, ann(ev, "kaudit.io/cluster")):
            return False
        if self.res and not any(resource_ok(p, ref) for p in self.res):
            return False
        if self.codes and not codes_ok(self.codes, ev):
            return False
        if self.decision and ann(ev, "authorization.k8s.io/decision") != self.decision:
            return False
        return not (self.nets and not ip_ok(self.nets, ev))


def ts(ev):
    v = ev.get("requestReceivedTimestamp")
    return parse_time(v) if isinstance(v, str) else None


def items_of(doc):
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict) and isinstance(doc.get("items"), list) and \
            doc.get("kind") in (None, "EventList"):
        return doc["items"]
    return [doc]


def read_events(path):
    """Yields (event dict, raw bytes) in file order."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as fh:
        data = fh.read()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines = data.split(b"\n")
    first = next((ln.strip() for ln in lines if ln.strip()), b"")
    if first and not first.endswith((b"}", b"]")) and len([x for x in lines if x.strip()]) > 1:
        doc = json.loads(data)
        for it in items_of(doc):
            yield it, json.dumps(it).encode()
        return
    for ln in lines:
        s = ln.strip()
        if not s:
            continue
        doc = json.loads(s)
        if isinstance(doc, list) or (isinstance(doc, dict) and "items" in doc and
                                     doc.get("kind") in (None, "EventList")):
            for it in items_of(doc):
                yield it, json.dumps(it).encode()
        else:
            yield doc, s


def rows(q, files):
    best, cands, seq = {}, [], 0
    for path in files:
        for ev, raw in read_events(path):
            aid = ev.get("auditID") or ""
            rank = STAGES.get(ev.get("stage"), 0)
            if aid and (aid not in best or best[aid][0] < rank):
                best[aid] = (rank, seq)
            if q.stage not in ("requests", "any") and ev.get("stage") != q.stage:
                pass
            elif q.match(ev, raw):
                cands.append((ev, raw, aid, rank, seq))
            seq += 1
    out = []
    for ev, raw, aid, rank, s in cands:
        if q.stage == "requests" and aid and best[aid] != (rank, s):
            continue
        t = ts(ev)
        out.append(((t is not None, t or (0, 0), aid.encode(), rank, s), ev, raw))
    out.sort(key=lambda r: r[0])
    return out[:q.limit] if q.limit else out


def key_of(ev):
    ref = ev.get("objectRef") or {}
    st = ev.get("responseStatus") or {}
    user = ev.get("user") or {}
    t = ts(ev)
    ev = {k: v for k, v in ev.items() if v != ""}  # the canonical form writes "" for absent
    user = {k: v for k, v in user.items() if v != ""}
    ref = {k: v for k, v in ref.items() if v != ""}
    return json.dumps([ev.get("auditID"), ev.get("stage"), ev.get("verb"), user.get("username"),
                       ref.get("resource"), ref.get("subresource"), ref.get("namespace"),
                       ref.get("name"), st.get("code"),
                       [t[0], t[1] // 1000] if t else None])


def main(argv):
    mode = "raw"
    if argv[:1] == ["--keys-of-json"]:  # kaudit's -o json output on stdin
        for ev in json.load(sys.stdin):
            print(key_of(ev))
        return
    if argv[:1] == ["--print"]:
        mode, argv = argv[1], argv[2:]
    sep = argv.index("--")
    q = Query(argv[:sep])
    out = sys.stdout.buffer
    for _, ev, raw in rows(q, argv[sep + 1:]):
        out.write((raw if mode == "raw" else key_of(ev).encode()) + b"\n")


if __name__ == "__main__":
    main(sys.argv[1:])
