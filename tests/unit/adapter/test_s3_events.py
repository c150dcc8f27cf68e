"""The inbox from S3 event notifications: with the store on S3 and GALLERY_INBOX_SQS_QUEUE set, the
inbox watcher is the common messaging provider's MessageQueueTrigger on that SQS queue, and an upload
under the inbox prefix (bucket notification -> SQS on moto's server) makes it fire, with no LIST of
the bucket; an object elsewhere in the bucket does not. Without a queue, the listing trigger stays."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import unquote_plus

import pytest

from image_pipeline.settings import Settings


@pytest.fixture
def s3_events(moto_server, s3_client, s3_bucket, monkeypatch):
    """A queue receiving the bucket's ObjectCreated events under ``gallery/inbox/``, and the AWS connection."""
    import boto3

    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(
        {"conn_type": "aws", "login": "testing", "password": "testing",
         "extra": {"endpoint_url": moto_server, "region_name": "us-east-1"}}))
    sqs = boto3.client("sqs", endpoint_url=moto_server, region_name="us-east-1")
    queue_url = sqs.create_queue(QueueName=f"{s3_bucket}-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3_client.put_bucket_notification_configuration(Bucket=s3_bucket, NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"],
                                 "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "gallery/inbox/"}]}}}]})
    yield Settings(store={"store_url": f"s3://{s3_bucket}/gallery", "inbox_sqs_queue": queue_url}), sqs, queue_url
    sqs.delete_queue(QueueUrl=queue_url)


async def first_event(trigger, timeout: float):
    async def first():
        async for event in trigger.run():
            return event
    try:
        return await asyncio.wait_for(first(), timeout)
    except asyncio.TimeoutError:
        return None


def watcher_trigger(cfg):
    from image_pipeline.airflow_adapter.triggers import inbox_trigger

    return inbox_trigger(cfg)


def test_an_upload_under_the_inbox_prefix_fires_the_message_queue_trigger(s3_events, s3_client, s3_bucket):
    from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger

    cfg, sqs, queue_url = s3_events
    trigger = watcher_trigger(cfg)
    assert isinstance(trigger, MessageQueueTrigger)
    s3_client.put_object(Bucket=s3_bucket, Key="gallery/raw/elsewhere.jpg", Body=b"not the inbox")
    assert asyncio.run(first_event(trigger, 4)) is None  # no event for an object outside the inbox

    s3_client.put_object(Bucket=s3_bucket, Key="gallery/inbox/holiday/cat.jpg", Body=b"an upload")
    event = asyncio.run(first_event(trigger, 20))
    assert event is not None
    bodies = [json.loads(m["Body"]) for m in event.payload["message_batch"]]
    keys = [unquote_plus(r["s3"]["object"]["key"]) for body in bodies for r in body["Records"]]  # S3 URL-encodes keys
    assert keys == ["gallery/inbox/holiday/cat.jpg"]
    # The message is consumed: the next upload is a new event, the same one never fires twice.
    assert "Messages" not in sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0)


def test_the_trigger_is_stored_as_the_providers_sqs_trigger(s3_events):
    cfg, _, queue_url = s3_events
    classpath, kwargs = watcher_trigger(cfg).serialize()
    assert classpath == "airflow.providers.amazon.aws.triggers.sqs.SqsSensorTrigger"
    assert kwargs["sqs_queue"] == queue_url and kwargs["message_filtering"] == "jsonpath"
    assert kwargs["aws_conn_id"] == "aws_default" and kwargs["delete_message_on_reception"] is True


def test_the_inbox_asset_watches_the_queue_when_the_settings_name_one():
    """What a DAG parse sees: the watcher of gallery_inbox_files, chosen from the environment."""
    import os
    import subprocess
    import sys

    code = ("from image_pipeline.airflow_adapter import INBOX_FILES; "
            "print(type(INBOX_FILES.watchers[0].trigger).__name__)")
    env = {**os.environ, "GALLERY_STORE_URL": "s3://bucket/gallery",
           "GALLERY_INBOX_SQS_QUEUE": "https://sqs.us-east-1.amazonaws.com/123456789012/gallery-inbox"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split()[-1] == "MessageQueueTrigger"


@pytest.mark.parametrize("cfg", [Settings(), Settings(store={"inbox_sqs_queue": "https://sqs.example/1/q"}),
                                 Settings(store={"store_url": "s3://bucket/gallery"})], ids=["local", "local+queue", "s3"])
def test_without_a_queue_or_with_local_files_the_inbox_is_listed(cfg):
    from image_pipeline.airflow_adapter.triggers import InboxTrigger, inbox_trigger

    assert isinstance(inbox_trigger(cfg), InboxTrigger)
