"""Parses one HTTP request as a subscriber would, with the Python CloudEvents SDK.

Usage: receive.py < request.json
request.json: {"headers": {name: value, ...}, "body_b64": "..."}
Prints one JSON object: {"attributes": {...}, "data": <JSON value or text>} for JSON/text data,
or {"attributes": {...}, "data_b64": "..."} for bytes.
"""

import base64
import json
import sys

from cloudevents.http import from_http


def main() -> None:
    request = json.load(sys.stdin)
    body = base64.b64decode(request["body_b64"])
    event = from_http(request["headers"], body)
    out = {"attributes": {k: str(v) for k, v in event.get_attributes().items()}}
    data = event.get_data()
    if isinstance(data, (bytes, bytearray)):
        out["data_b64"] = base64.b64encode(bytes(data)).decode("ascii")
    else:
        out["data"] = data
    print(json.dumps(out))


if __name__ == "__main__":
    main()
