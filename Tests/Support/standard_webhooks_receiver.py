#!/usr/bin/env python3
"""A webhook receiver that verifies every request with the Standard Webhooks reference
library (PyPI `standardwebhooks`), for Tether's tests.

    python3 standard_webhooks_receiver.py whsec_AAA... whsec_BBB...

Listens on a free loopback port and prints `listening <port>`, then one JSON line per
request: {"webhook_id", "verified_by": [indices of the secrets that verify it], "error"}.
Answers 200 to what verifies with any secret, 401 otherwise. Stops on SIGTERM.
"""
import json
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

secrets = sys.argv[1:]
if not secrets:
    sys.exit(__doc__)
hooks = [Webhook(secret) for secret in secrets]
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {key.lower(): value for key, value in self.headers.items()}
        verified, errors = [], []
        for index, hook in enumerate(hooks):
            try:
                hook.verify(body, headers)
                verified.append(index)
            except WebhookVerificationError as error:
                errors.append(str(error))
        with lock:
            print(json.dumps({"webhook_id": headers.get("webhook-id"), "verified_by": verified,
                              "error": "; ".join(errors) if not verified else None}), flush=True)
        self.send_response(200 if verified else 401)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(f"listening {server.server_address[1]}", flush=True)
signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
server.serve_forever()
