"""S3 in tests: moto's server on loopback, reached with throw-away credentials."""

from __future__ import annotations

AWS_TEST_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def moto_client(endpoint: str):
    """A boto3 S3 client of ``endpoint`` (the credentials come from ``AWS_TEST_ENV``, set by the caller)."""
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")


def remove_bucket(client, name: str) -> None:
    """Empty the bucket ``name``, then delete it."""
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
        for obj in page.get("Contents", []):
            client.delete_object(Bucket=name, Key=obj["Key"])
    client.delete_bucket(Bucket=name)
