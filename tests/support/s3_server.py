"""A real S3-compatible server (moto's) on loopback for Quire's backup tests.

Usage: s3_server.py PORT BUCKET

Starts moto's S3 server on 127.0.0.1:PORT, creates BUCKET through the S3 API
itself, and prints "ready".
"""

import logging
import sys
import threading

import boto3
from moto.server import ThreadedMotoServer

# One line per request on stderr would bury the test's own output.
logging.getLogger("werkzeug").setLevel(logging.ERROR)
port, bucket = int(sys.argv[1]), sys.argv[2]
server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
server.start()
boto3.client(
    "s3",
    endpoint_url=f"http://127.0.0.1:{port}",
    aws_access_key_id="test",
    aws_secret_access_key="test",
    region_name="us-east-1",
).create_bucket(Bucket=bucket)
print("ready", flush=True)
threading.Event().wait()
