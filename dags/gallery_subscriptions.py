"""
### gallery_subscription_*: recurring deliveries, one DAG per subscription

Each entry of `GALLERY_SUBSCRIPTIONS_FILE` (default `config/subscriptions.yaml`: recipient,
selection, cron) becomes a DAG `gallery_subscription_<name>` on its cron schedule with data
intervals. Each run emails the selected processed images retrieved during its interval, once per
(selection, recipient, interval): a retry or a cleared run sends nothing twice, and
`airflow backfill create --dag-id gallery_subscription_<name>` delivers past periods.
"""

from __future__ import annotations

from airflow.sdk import CronDataIntervalTimetable, dag, task

from image_pipeline import airflow_adapter as af
from image_pipeline.airflow_adapter import ARCHIVES, DEFAULT_ARGS, START_DATE
from image_pipeline.deliver.subscriptions import Subscription, load_subscriptions
from image_pipeline.wiring import all_recipes


def subscription_dag(subscription: Subscription):
    @dag(
        dag_id=f"gallery_subscription_{subscription.name}",
        schedule=CronDataIntervalTimetable(subscription.cron, timezone="UTC"),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=["image-pipeline", "deliver", "subscription"],
        doc_md=__doc__ + f"\n\n**gallery_subscription_{subscription.name}**: {subscription.description}: "
                         f"`{subscription.selection}` to {subscription.recipient}, cron `{subscription.cron}`.",
    )
    def deliver_subscription():
        @task(outlets=[ARCHIVES])
        def deliver_period(**context) -> dict:
            request = subscription.for_interval(context["data_interval_start"], context["data_interval_end"],
                                                af.delivery_occasion(context)).to_dict()
            return af.run_delivery(request, context)

        deliver_period()

    return deliver_subscription()


for _subscription in load_subscriptions(af.settings().email.subscriptions_file, all_recipes()):
    subscription_dag(_subscription)
