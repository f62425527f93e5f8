#!/usr/bin/env python3
"""A small local stand-in for the EC2 instance metadata service, IMDSv2 only, for tests.

PUT /latest/api/token needs X-aws-ec2-metadata-token-ttl-seconds and returns a token that expires after
--token-ttl seconds (or the requested TTL, if shorter). Every other path needs a live token (else 401).
The role's credentials expire --lifetime seconds after each fetch; each fetch returns a new
AccessKeyId suffix ("#n") unless --fixed-key, and the secret given. GET /stats (no token) reports counts.
Prints the port it listens on, then serves until killed. Loopback only.
"""
import argparse
import json
import secrets
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ap = argparse.ArgumentParser()
ap.add_argument("--access-key", required=True)
ap.add_argument("--secret-key", required=True)
ap.add_argument("--session-token", default="")
ap.add_argument("--lifetime", type=float, default=3600)
ap.add_argument("--token-ttl", type=float, default=21600)
ap.add_argument("--role", default="hoshino-node")
ap.add_argument("--fixed-key", action="store_true", help="always the same AccessKeyId (for real S3 use)")
args = ap.parse_args()

lock = threading.Lock()
tokens = {}
stats = {"token_puts": 0, "credential_fetches": 0, "rejected": 0}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def reply(self, code, body, ctype="text/plain"):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PUT(self):
        if self.path != "/latest/api/token":
            return self.reply(404, "not found")
        ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
        if not ttl or not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
            return self.reply(400, "missing or bad X-aws-ec2-metadata-token-ttl-seconds")
        token = secrets.token_urlsafe(24)
        with lock:
            tokens[token] = time.monotonic() + min(int(ttl), args.token_ttl)
            stats["token_puts"] += 1
        self.reply(200, token)

    def do_GET(self):
        if self.path == "/stats":
            with lock:
                return self.reply(200, json.dumps(stats), "application/json")
        token = self.headers.get("X-aws-ec2-metadata-token", "")
        with lock:
            valid = tokens.get(token, 0) > time.monotonic()
            if not valid:
                stats["rejected"] += 1
        if not valid:
            return self.reply(401, "")
        base = "/latest/meta-data/iam/security-credentials/"
        if self.path == base:
            return self.reply(200, args.role + "\n")
        if self.path == base + args.role:
            with lock:
                stats["credential_fetches"] += 1
                n = stats["credential_fetches"]
            expires = datetime.fromtimestamp(time.time() + args.lifetime, timezone.utc)
            doc = {"Code": "Success", "LastUpdated": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                   "Type": "AWS-HMAC",
                   "AccessKeyId": args.access_key if args.fixed_key else f"{args.access_key}#{n}",
                   "SecretAccessKey": args.secret_key, "Token": args.session_token,
                   "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}
            return self.reply(200, json.dumps(doc), "application/json")
        self.reply(404, "not found")

    do_POST = do_DELETE = lambda self: self.reply(405, "")


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
