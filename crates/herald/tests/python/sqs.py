"""SQS helper for source_awssqs.rs: talks to moto's server with boto3 (SQS's own client).

  sqs.py create ENDPOINT NAME VISIBILITY   -> prints the queue URL
  sqs.py send ENDPOINT QUEUE_URL < [{"body": ..., "attributes": {k: v}}] -> prints message ids (JSON)
  sqs.py count ENDPOINT QUEUE_URL          -> prints visible + in-flight message count
"""
import json
import sys

import boto3
from botocore.config import Config


def client(endpoint):
    # Retries ride out a moto that is still starting on a loaded machine.
    return boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing",
                        config=Config(retries={"max_attempts": 10, "mode": "standard"}))


def main():
    cmd, endpoint = sys.argv[1], sys.argv[2]
    sqs = client(endpoint)
    if cmd == "create":
        url = sqs.create_queue(QueueName=sys.argv[3],
                               Attributes={"VisibilityTimeout": sys.argv[4]})["QueueUrl"]
        print(url)
    elif cmd == "send":
        ids = []
        for m in json.load(sys.stdin):
            attrs = {k: {"DataType": "String", "StringValue": v}
                     for k, v in m.get("attributes", {}).items()}
            r = sqs.send_message(QueueUrl=sys.argv[3], MessageBody=m["body"],
                                 MessageAttributes=attrs)
            ids.append(r["MessageId"])
        print(json.dumps(ids))
    elif cmd == "count":
        a = sqs.get_queue_attributes(QueueUrl=sys.argv[3], AttributeNames=["All"])["Attributes"]
        print(int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"]))
    else:
        sys.exit(f"unknown command {cmd}")


main()
