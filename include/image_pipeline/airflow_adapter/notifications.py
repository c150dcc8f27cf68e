"""The failure notifier every task carries (``DEFAULT_ARGS``)."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from airflow.sdk import BaseNotifier

from image_pipeline.airflow_adapter.hooks import mailer, object_store, settings
from image_pipeline.deliver.mail import compose

log = logging.getLogger(__name__)


class FailureEmailNotifier(BaseNotifier):
    """Emails ``GALLERY_OPERATOR_EMAIL`` when a task has failed for good (no retry left), through
    the same channel as deliveries (SMTP, the HTTPS API or the outbox); only logs when unset."""

    template_fields = ()

    def notify(self, context: dict[str, Any]) -> None:
        cfg = settings()
        ti = context["ti"]
        what = f"{ti.dag_id}.{ti.task_id}" + (f"[{ti.map_index}]" if ti.map_index >= 0 else "")
        if not cfg.email.operator_email:
            log.warning("%s failed for good in run %s (GALLERY_OPERATOR_EMAIL unset: no email)", what, ti.run_id)
            return
        exception = context.get("exception")
        body = (
            f"{what} failed for good (try {ti.try_number}) in run {ti.run_id} of DAG {ti.dag_id}.\n\n"
            f"Error: {type(exception).__name__ if exception else 'unknown'}: {exception}\n\n"
            f"Log: {getattr(ti, 'log_url', '') or 'see the task log in the Airflow UI'}\n\n-- Image Pipeline\n"
        )
        key = hashlib.sha256(f"failure|{ti.dag_id}|{ti.run_id}|{ti.task_id}|{ti.map_index}|{ti.try_number}".encode())
        msg = compose(sender=cfg.email.email_from, recipient=cfg.email.operator_email,
                      subject=f"[image-pipeline] {what} failed",
                      body=body, delivery_id=key.hexdigest())
        store = object_store(cfg)
        mailer(store, cfg).send(msg)
