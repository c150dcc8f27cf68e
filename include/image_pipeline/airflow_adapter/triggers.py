"""The inbox's event trigger: what turns files dropped into the store's ``inbox/`` zone into an
Asset event (an ``AssetWatcher`` on ``gallery_inbox_files`` runs it in the triggerer).

Two ways, chosen by :func:`inbox_trigger`: listing the inbox (:class:`InboxTrigger`, the default, for
a local folder and for S3), or, with the store on S3 and ``GALLERY_INBOX_SQS_QUEUE`` set, the S3
event notifications the bucket sends to that SQS queue, read by the common messaging provider's
``MessageQueueTrigger`` (no LIST per poll: one long-polled ReceiveMessage).

Stored trigger rows name ``image_pipeline.airflow_adapter.InboxTrigger``; the package re-exports it
there so they keep resolving.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, AsyncIterator

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from image_pipeline.airflow_adapter.hooks import object_store, settings
from image_pipeline.settings import Settings

CLASSPATH = "image_pipeline.airflow_adapter.InboxTrigger"  # stable: stored trigger rows name it

class InboxTrigger(BaseEventTrigger):
    """Fires when files wait in the store's ``inbox/`` zone (a local folder or an S3 prefix) and
    the listing has not changed for ``settle`` seconds, so an upload in progress is not cut short.

    An event trigger rather than a sensor: it runs in the triggerer, costs no worker slot while it
    waits, and turns each drop of files into an Asset event that starts ``gallery_inbox`` at once.
    """

    def __init__(self, poll_interval: float = 10.0, settle: float = 5.0):
        super().__init__()
        self.poll_interval = poll_interval
        self.settle = settle

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return CLASSPATH, {
            "poll_interval": self.poll_interval, "settle": self.settle}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from image_pipeline.retrieve.inbox import INBOX

        last: list[str] | None = None
        changed_at = time.monotonic()
        while True:
            keys = await asyncio.to_thread(lambda: list(object_store().list(INBOX)))
            if keys != last:
                last, changed_at = keys, time.monotonic()
            elif keys and time.monotonic() - changed_at >= self.settle:
                yield TriggerEvent({"files": len(keys), "first": keys[0]})
                return
            await asyncio.sleep(self.poll_interval)


# Only messages about an object (S3 also sends an ``s3:TestEvent`` when notifications are set up).
S3_EVENT_KEYS = "Records[*].s3.object.key"


def inbox_trigger(cfg: Settings | None = None) -> BaseEventTrigger:
    """The inbox watcher's trigger: S3 event notifications through SQS when the store is on S3 and
    ``GALLERY_INBOX_SQS_QUEUE`` names the queue, else the listing :class:`InboxTrigger`."""
    cfg = cfg or settings()
    if not (cfg.store.inbox_sqs_queue and cfg.store.is_s3):
        return InboxTrigger()
    # Imported only when configured: the provider's import stays out of the default DAG parse.
    from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger

    return MessageQueueTrigger(
        scheme="sqs", sqs_queue=cfg.store.inbox_sqs_queue, aws_conn_id=cfg.store.aws_conn_id,
        max_messages=10, num_batches=1, wait_time_seconds=20, waiter_delay=5,
        message_filtering="jsonpath", message_filtering_config=S3_EVENT_KEYS, delete_message_on_reception=True,
    )
