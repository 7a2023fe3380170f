#!/usr/bin/env python3
"""recv.py - a recording receiver for kaudit's HTTP outputs (python3 standard library only).

It speaks three protocols on one loopback port, validates the exact wire format of each,
records what it accepted, and injects failures on command:

  POST [PREFIX]/_bulk[?pipeline=P]        Elasticsearch/OpenSearch bulk API (NDJSON)
  POST [PREFIX]/loki/api/v1/push          Loki push API (JSON)
  POST [PREFIX]/services/collector/event  Splunk HEC (concatenated JSON envelopes)
  POST [PREFIX]/services/collector/ack    Splunk HEC indexer acknowledgement

Validation (a request that breaks a rule is answered 400 and recorded in "violations", which a
test expects to stay empty):
  _bulk: Content-Type application/x-ndjson; body ends with LF; lines alternate action / source;
    the action is exactly {"create":{"_index":I,"_id":ID}} (only create: data streams and the
    409-means-delivered rule need it); the source is a JSON object with "auditID" and "stage";
    ID == auditID + "-" + stage; "@timestamp", when present, is first and an RFC 3339 UTC time.
  Loki: Content-Type application/json; {"streams":[{"stream":{labels},"values":[[ns,line],...]}]}
    with only those members; labels a non-empty object of non-empty strings; ns a decimal string
    without leading zeros; entries non-decreasing in time inside each stream; each line one JSON
    object (an audit event), at most --loki-max-line bytes.
  Splunk: Authorization "Splunk <--splunk-token>" (else 401 code 4); the body is one or more
    JSON objects back to back; each has "event" (an object with auditID) and "time" (a number
    with at most 6 decimals) and only the known envelope members; with --splunk-ack the
    X-Splunk-Request-Channel header is required (else 400 code 10).

Refused: the auditIDs of events refused for good by a rejection rule ("refused" in the state:
the ES item, every event of the Loki request, the Splunk event named invalid), which is exactly
what the sender's dead letters must hold.

Recording: ES documents by _id (a second create of an _id is answered 409 and counted as a
duplicate try); Loki entries and Splunk events in arrival order, with their labels/envelopes;
every request's path, status and selected headers.

Control (JSON bodies), for tests:
  POST /_ctl/fail   {"proto":"es|loki|splunk|ack", "actions":[A, ...]}   queued, one per request
      A = {"status":429|500|400|...,"body":"..."}      answer with this, record nothing
          {"drop":"before"|"after"}                   close without answering (after = recorded)
          {"delay":SECONDS}                           wait, then handle normally
          {"items":{"<_id>":STATUS,...}}              ES: those items fail once with STATUS
          {"ack_pending":N}                           Splunk: N polls answer false before true
          {"ack_never":true}                          Splunk: this batch's ackId is never acked
  POST /_ctl/reject {"proto":"es|loki|splunk","audit_ids":{"<auditID>":STATUS,...}}  always
      refused (ES: that item with 400 mapper_parsing_exception; Loki: the whole request 400;
      Splunk: 400 code 6 with invalid-event-number)
  GET  /_ctl/state  everything recorded, as JSON
  POST /_ctl/reset  forget everything (queued failures and rejections too)
  POST /_ctl/quit   stop

Usage: recv.py [--port N] [--portfile F] [--splunk-token T] [--splunk-ack] [--loki-max-line N]
              [--tls-cert PEM --tls-key PEM] [--max-seconds S]
The chosen port is written to --portfile (and stdout) once the server listens.
"""
import argparse
import json
import re
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")
NS_RE = re.compile(r"^(0|[1-9]\d{0,19})$")
TIME_RE = re.compile(r"^\d+(\.\d{1,6})?$")
ENVELOPE_KEYS = {"time", "host", "source", "sourcetype", "index", "event", "fields"}


class Bad(Exception):
    """A wire-format violation: answered 400 and recorded."""


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.es_docs = {}        # _id -> {"index":..., "doc":..., "creates": n}
        self.es_conflicts = 0
        self.es_pipeline = []
        self.loki = []           # {"labels":..., "ts":..., "line":...}
        self.splunk = []         # envelope objects
        self.requests = []       # {"path", "status", "auth", "tenant", "channel", "ctype"}
        self.violations = []
        self.refused = []        # auditIDs of events refused for good (400-class, by reject)
        self.queue = {"es": [], "loki": [], "splunk": [], "ack": []}
        self.reject = {"es": {}, "loki": {}, "splunk": {}}
        self.acks = {}           # ackId -> polls left before true (-1 = never)
        self.next_ack = 0

    def next_action(self, proto):
        q = self.queue[proto]
        return q.pop(0) if q else {}

    def snapshot(self):
        return {
            "es": {"docs": self.es_docs, "conflicts": self.es_conflicts,
                   "pipelines": self.es_pipeline},
            "loki": self.loki,
            "splunk": self.splunk,
            "requests": self.requests,
            "violations": self.violations,
            "refused": sorted(set(self.refused)),
        }


ST = State()
OPTS = None


def js_loads_object(text, what):
    try:
        v = json.loads(text)
    except ValueError as e:
        raise Bad("%s is not JSON: %s" % (what, e))
    if not isinstance(v, dict):
        raise Bad("%s is not a JSON object" % what)
    return v


# ---- Elasticsearch ------------------------------------------------------------------------

def es_parse(body, ctype):
    if not ctype.startswith("application/x-ndjson"):
        raise Bad("_bulk Content-Type %r, want application/x-ndjson" % ctype)
    if not body.endswith(b"\n"):
        raise Bad("_bulk body does not end with LF")
    lines = body[:-1].split(b"\n")
    if len(lines) % 2:
        raise Bad("_bulk body has an action without a source")
    ops = []
    for i in range(0, len(lines), 2):
        act = js_loads_object(lines[i].decode("utf-8"), "action line %d" % (i + 1))
        if list(act) != ["create"] or not isinstance(act["create"], dict) or \
                sorted(act["create"]) != ["_id", "_index"]:
            raise Bad("action line %d is not {\"create\":{\"_index\",\"_id\"}}: %s" %
                      (i + 1, lines[i][:200]))
        doc = js_loads_object(lines[i + 1].decode("utf-8"), "source line %d" % (i + 2))
        keys = list(doc)
        if "@timestamp" in doc and (keys[0] != "@timestamp" or
                                    not TS_RE.match(str(doc["@timestamp"]))):
            raise Bad("@timestamp not first or not an RFC 3339 UTC time")
        want = "%s-%s" % (doc.get("auditID"), doc.get("stage"))
        if act["create"]["_id"] != want:
            raise Bad("_id %r is not auditID-stage %r" % (act["create"]["_id"], want))
        ops.append((act["create"]["_index"], act["create"]["_id"], doc))
    return ops


def es_bulk(h, body, action, query):
    ops = es_parse(body, h.headers.get("Content-Type", ""))
    h.n_items = len(ops)
    if "pipeline" in query:
        ST.es_pipeline.append(query["pipeline"][0])
    once = action.get("items", {})
    items, errors = [], False
    for index, _id, doc in ops:
        status, err = 201, None
        rej = ST.reject["es"].get(doc.get("auditID"))
        if rej:
            ST.refused.append(doc.get("auditID"))
            status, err = rej, {"type": "mapper_parsing_exception",
                                "reason": "failed to parse field [requestObject]"}
        elif _id in once:
            status = once[_id]
            err = {"type": "es_rejected_execution_exception" if status == 429
                   else "injected_exception", "reason": "injected %d" % status}
        elif _id in ST.es_docs:
            status, err = 409, {"type": "version_conflict_engine_exception",
                                "reason": "[%s]: version conflict, document already exists" % _id}
            ST.es_docs[_id]["creates"] += 1
            ST.es_conflicts += 1
        else:
            ST.es_docs[_id] = {"index": index, "doc": doc, "creates": 1}
        item = {"_index": index, "_id": _id, "status": status}
        if err:
            item["error"] = err
            errors = True
        else:
            item["result"] = "created"
        items.append({"create": item})
    return 200, {"took": 1, "errors": errors, "items": items}


# ---- Loki -----------------------------------------------------------------------------------

def loki_parse(body, ctype):
    if not ctype.startswith("application/json"):
        raise Bad("push Content-Type %r, want application/json" % ctype)
    req = js_loads_object(body.decode("utf-8"), "push body")
    if list(req) != ["streams"] or not isinstance(req["streams"], list) or not req["streams"]:
        raise Bad("push body is not {\"streams\":[...]}")
    out = []
    for s in req["streams"]:
        if not isinstance(s, dict) or sorted(s) != ["stream", "values"]:
            raise Bad("a stream is not {\"stream\",\"values\"}")
        labels = s["stream"]
        if not isinstance(labels, dict) or not labels or \
                not all(isinstance(v, str) and v for v in labels.values()):
            raise Bad("stream labels must be a non-empty object of non-empty strings")
        last = -1
        for v in s["values"]:
            if not isinstance(v, list) or len(v) != 2 or not all(isinstance(x, str) for x in v):
                raise Bad("an entry is not [\"<ns>\",\"<line>\"]")
            if not NS_RE.match(v[0]):
                raise Bad("timestamp %r is not a decimal nanosecond string" % v[0])
            ts = int(v[0])
            if ts < last:
                raise Bad("entries out of order in stream %s" % json.dumps(labels))
            last = ts
            if len(v[1].encode("utf-8")) > OPTS.loki_max_line:
                raise Bad("line of %d bytes over max_line_size" % len(v[1].encode("utf-8")))
            out.append({"labels": labels, "ts": v[0],
                        "line": js_loads_object(v[1], "log line")})
    return out


def loki_push(h, body, action, query):
    entries = loki_parse(body, h.headers.get("Content-Type", ""))
    for e in entries:
        st = ST.reject["loki"].get(e["line"].get("auditID"))
        if st:
            ST.refused.extend(x["line"].get("auditID") for x in entries)
            return st, "entry for stream '%s' has been rejected (injected)" % \
                json.dumps(e["labels"], sort_keys=True)
    ST.loki.extend(entries)
    return 204, None


# ---- Splunk ---------------------------------------------------------------------------------

def splunk_parse(body):
    text = body.decode("utf-8")
    dec = json.JSONDecoder()
    i, out = 0, []
    while i < len(text):
        while i < len(text) and text[i] in " \t\r\n":
            i += 1
        if i == len(text):
            break
        try:
            obj, j = dec.raw_decode(text, i)
        except ValueError as e:
            raise Bad("HEC body: %s" % e)
        if not isinstance(obj, dict) or not set(obj) <= ENVELOPE_KEYS or \
                not isinstance(obj.get("event"), dict):
            raise Bad("HEC envelope members %s" % sorted(obj) if isinstance(obj, dict) else
                      "HEC envelope is not an object")
        m = re.search(r'"time":([0-9.eE+-]+)', text[i:j])
        if "time" in obj and not (m and TIME_RE.match(m.group(1))):
            raise Bad("time is not seconds with at most 6 decimals")
        out.append(obj)
        i = j
    if not out:
        raise Bad("HEC body has no event")
    return out


def splunk_event(h, body, action, query):
    if h.headers.get("Authorization") != "Splunk %s" % OPTS.splunk_token:
        return 401, {"text": "Invalid token", "code": 4}
    channel = h.headers.get("X-Splunk-Request-Channel")
    if OPTS.splunk_ack and not channel:
        return 400, {"text": "Data channel is missing", "code": 10}
    evs = splunk_parse(body)
    for k, e in enumerate(evs):
        if e["event"].get("auditID") in ST.reject["splunk"]:
            ST.splunk.extend(evs[:k])  # the events before the bad one are indexed
            ST.refused.append(e["event"].get("auditID"))
            return 400, {"text": "Invalid data format", "code": 6, "invalid-event-number": k}
    ST.splunk.extend(evs)
    if not OPTS.splunk_ack:
        return 200, {"text": "Success", "code": 0}
    ack_id = ST.next_ack
    ST.next_ack += 1
    ST.acks[ack_id] = -1 if action.get("ack_never") else action.get("ack_pending", 0)
    return 200, {"text": "Success", "code": 0, "ackId": ack_id}


def splunk_ack(h, body, action, query):
    if h.headers.get("Authorization") != "Splunk %s" % OPTS.splunk_token:
        return 401, {"text": "Invalid token", "code": 4}
    if query.get("channel", [""])[0] != h.headers.get("X-Splunk-Request-Channel", ""):
        raise Bad("ack channel parameter differs from the channel header")
    req = js_loads_object(body.decode("utf-8"), "ack body")
    if list(req) != ["acks"] or not all(isinstance(a, int) for a in req["acks"]):
        raise Bad("ack body is not {\"acks\":[ids]}")
    res = {}
    for a in req["acks"]:
        left = ST.acks.get(a)
        if left is None or left < 0:
            res[str(a)] = False
        elif left == 0:
            res[str(a)] = True
        else:
            ST.acks[a] = left - 1
            res[str(a)] = False
    return 200, {"acks": res}


ROUTES = [("/_bulk", "es", es_bulk), ("/loki/api/v1/push", "loki", loki_push),
          ("/services/collector/event", "splunk", splunk_event),
          ("/services/collector/ack", "ack", splunk_ack)]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def reply(self, status, obj):
        data = b"" if obj is None else (obj if isinstance(obj, bytes) else
                                         (obj.encode() if isinstance(obj, str) else
                                          json.dumps(obj).encode()))
        self.send_response(status)
        if data:
            self.send_header("Content-Type", "application/json" if data[:1] in b"{[" else
                             "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except OSError:  # the client gave up (a slow answer past its timeout)
            self.close_connection = True

    def read_body(self):
        n = int(self.headers.get("Content-Length", "0"))
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        if urlsplit(self.path).path == "/_ctl/state":
            with ST.lock:
                self.reply(200, ST.snapshot())
        else:
            self.reply(404, {"error": "not found"})

    def control(self, path, body):
        req = json.loads(body.decode() or "{}")
        with ST.lock:
            if path == "/_ctl/fail":
                ST.queue[req["proto"]].extend(req["actions"])
            elif path == "/_ctl/reject":
                ST.reject[req["proto"]].update(req["audit_ids"])
            elif path == "/_ctl/reset":
                ST.reset()
            elif path == "/_ctl/quit":
                quit_timer = threading.Timer(0.2, self.server.shutdown)
                quit_timer.daemon = True
                quit_timer.start()
            else:
                return self.reply(404, {"error": "unknown control"})
        self.reply(200, {"ok": True})

    def do_POST(self):
        url = urlsplit(self.path)
        body = self.read_body()
        if url.path.startswith("/_ctl/"):
            return self.control(url.path, body)
        route = next((r for r in ROUTES if url.path.endswith(r[0])), None)
        if not route:
            return self.reply(404, {"error": "no such API: %s" % url.path})
        with ST.lock:
            action = ST.next_action(route[1])
        if "delay" in action:
            time.sleep(float(action["delay"]))
        if action.get("drop") == "before":
            return self.drop(url.path)
        with ST.lock:
            if "status" in action:
                status, obj = action["status"], action.get("body", {"injected": True})
            else:
                try:
                    status, obj = route[2](self, body, action, parse_qs(url.query))
                except Bad as e:
                    ST.violations.append({"path": url.path, "error": str(e)})
                    status, obj = 400, {"error": "recv.py: %s" % e}
            self.record(url.path, status)
        if action.get("drop") == "after":
            return self.drop(url.path)
        self.reply(status, obj)

    def record(self, path, status):
        h = self.headers
        ST.requests.append({"path": path, "status": status, "auth": h.get("Authorization"),
                            "tenant": h.get("X-Scope-OrgID"),
                            "channel": h.get("X-Splunk-Request-Channel"),
                            "ctype": h.get("Content-Type"), "items": getattr(self, "n_items", 0)})

    def drop(self, path):
        with ST.lock:
            ST.requests.append({"path": path, "status": 0})
        self.close_connection = True
        try:
            self.connection.shutdown(2)
        except OSError:
            pass


def main():
    global OPTS
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--portfile")
    ap.add_argument("--splunk-token", default="test-token")
    ap.add_argument("--splunk-ack", action="store_true")
    ap.add_argument("--loki-max-line", type=int, default=256 * 1024)
    ap.add_argument("--tls-cert", help="serve HTTPS with this PEM certificate chain")
    ap.add_argument("--tls-key", help="... and this PEM key")
    ap.add_argument("--max-seconds", type=float, default=600.0,
                    help="stop by itself after this long")
    OPTS = ap.parse_args()
    socketserver.TCPServer.allow_reuse_address = True
    srv = ThreadingHTTPServer(("127.0.0.1", OPTS.port), Handler)
    srv.daemon_threads = True
    if OPTS.tls_cert:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(OPTS.tls_cert, OPTS.tls_key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    port = srv.server_address[1]
    if OPTS.portfile:
        with open(OPTS.portfile + ".tmp", "w") as f:
            f.write("%d\n" % port)
        import os
        os.rename(OPTS.portfile + ".tmp", OPTS.portfile)
    print(port, flush=True)
    timer = threading.Timer(OPTS.max_seconds, srv.shutdown)
    timer.daemon = True
    timer.start()
    srv.serve_forever()
    srv.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()
