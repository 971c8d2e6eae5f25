"""CloudTrail event history for the local emulator, which has none: ``LookupEvents`` over the real
JSON protocol (awsJson1_1), per region (taken from the request's SigV4 credential scope), with the
``AccessKeyId`` filter, ``StartTime`` and pagination.  It serves the records it is given (the demo's
attacker, a test's scenario) and nothing else; it runs in a thread on 127.0.0.1."""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections import defaultdict
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TARGET = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents"
SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([a-z0-9-]+)/cloudtrail/aws4_request")


class CloudTrailHistory:
    def __init__(self, port: int = 0) -> None:
        self.records: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.requests: list[dict[str, Any]] = []
        fixture = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                target = self.headers.get("X-Amz-Target", "")
                scope = SCOPE.search(self.headers.get("Authorization", ""))
                region = scope.group(1) if scope else "us-east-1"
                fixture.requests.append({"target": target, "region": region, "body": body})
                if target != TARGET:
                    self._send(400, {"__type": "UnknownOperationException", "message": target})
                    return
                self._send(200, fixture.lookup(region, body))

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def add(self, region: str, record: dict[str, Any]) -> None:
        self.records[region].append(record)

    def lookup(self, region: str, body: dict[str, Any]) -> dict[str, Any]:
        wanted = {a["AttributeKey"]: a["AttributeValue"] for a in body.get("LookupAttributes", [])}
        start = body.get("StartTime")
        matching = []
        for record in sorted(self.records[region], key=lambda r: r["eventTime"], reverse=True):
            if (
                "AccessKeyId" in wanted
                and record.get("userIdentity", {}).get("accessKeyId") != wanted["AccessKeyId"]
            ):
                continue
            when = datetime.fromisoformat(record["eventTime"].replace("Z", "+00:00")).timestamp()
            if start is not None and when < float(start):
                continue
            matching.append((when, record))
        offset = int(body.get("NextToken") or 0)
        size = int(body.get("MaxResults") or 50)
        page = matching[offset : offset + size]
        answer: dict[str, Any] = {
            "Events": [
                {
                    "EventId": r["eventID"],
                    "EventName": r["eventName"],
                    "ReadOnly": str(r.get("readOnly", False)).lower(),
                    "AccessKeyId": r["userIdentity"].get("accessKeyId"),
                    "EventTime": when,
                    "EventSource": r.get("eventSource"),
                    "Username": r["userIdentity"].get("userName"),
                    "Resources": [],
                    "CloudTrailEvent": json.dumps(r),
                }
                for when, r in page
            ]
        }
        if offset + size < len(matching):
            answer["NextToken"] = str(offset + size)
        return answer

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def make_record(
    key_id: str,
    name: str,
    when: str,
    region: str = "us-east-1",
    ip: str = "203.0.113.7",
    identity: dict[str, Any] | None = None,
    response: dict[str, Any] | None = None,
    source: str = "iam.amazonaws.com",
) -> dict[str, Any]:
    """A CloudTrail record in the format trails write."""
    return {
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "accessKeyId": key_id, **(identity or {})},
        "eventTime": when,
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": ip,
        "userAgent": "aws-cli/2.15.0 Python/3.11",
        "requestParameters": {},
        "responseElements": response,
        "eventID": str(uuid.uuid4()),
        "eventType": "AwsApiCall",
        "readOnly": name.startswith(("Get", "List", "Describe")),
    }
