"""Sends one CloudEvent to a Herald Broker with the Python CloudEvents SDK.

Usage: send.py URL binary|structured < spec.json
spec.json: {"attributes": {...}, "data": <JSON value>} or {"attributes": {...}, "data_b64": "..."}
Prints one JSON object: {"status": <HTTP status>, "body": <response text>, "sent": <attributes>}.
"""

import base64
import json
import sys

import requests
from cloudevents.conversion import to_binary, to_structured
from cloudevents.http import CloudEvent


def main() -> None:
    url, mode = sys.argv[1], sys.argv[2]
    spec = json.load(sys.stdin)
    if "data_b64" in spec:
        data = base64.b64decode(spec["data_b64"])
    else:
        data = spec.get("data")
    event = CloudEvent(spec["attributes"], data)
    if mode == "binary":
        headers, body = to_binary(event)
    elif mode == "structured":
        headers, body = to_structured(event)
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    response = requests.post(url, headers=headers, data=body, timeout=10)
    sent = {k: str(v) for k, v in event.get_attributes().items()}
    print(json.dumps({"status": response.status_code, "body": response.text, "sent": sent}))


if __name__ == "__main__":
    main()
