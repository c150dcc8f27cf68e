"""
### image_request: keywords in, a ZIP of processed images in your inbox

The one-form flow: keywords, how many images, a recipe and an email address. One run retrieves
the images (any engine of `gallery_retrieve`: a search, a site with `site_url`, a list of `urls`),
processes just those with the recipe, archives them and emails the archive (attached, or linked
when large), once. Each step is its own task, so the run's page shows where the request is, and
each is retried on its own. The tasks run the same code as `gallery_retrieve`, `gallery_process`
and `gallery_deliver`; this DAG emits no Asset event, so the gallery DAGs do not act on its run.

The request is checked before anything is fetched or sent (engine, keywords, count, recipe,
email); the email is sent once per run, even when a task is retried or cleared.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException

from image_pipeline import airflow_adapter as af
from image_pipeline import retrieve as retrieval
from image_pipeline.airflow_adapter import DEFAULT_ARGS, DOWNLOAD_POOL, START_DATE
from image_pipeline.deliver.mail import validate_address
from image_pipeline.wiring import all_recipes


@dag(
    dag_id="image_request",
    schedule=None,
    start_date=START_DATE,
    catchup=False,
    max_active_runs=4,
    default_args=DEFAULT_ARGS,
    tags=["image-pipeline", "request"],
    doc_md=__doc__,
    params={
        "keywords": Param([], type="array", items={"type": "string"}, title="Keywords",
                          description="What to look for (one search each)."),
        "count": Param(20, type="integer", minimum=1, maximum=af.settings().max_count, title="How many",
                       description="Images wanted per keyword."),
        "recipe": Param("half_gray", type="string", enum=sorted(all_recipes()), title="Recipe"),
        "email": Param("", type="string", maxLength=254, title="Your email", description="Where the archive goes."),
        "engine": Param("bing", type="string", enum=list(retrieval.ENGINES), section="Other sources",
                        description="Where images come from."),
        "filters": Param({}, type="object", section="Other sources", description="Search filters."),
        "site_url": Param("", type="string", section="Other sources", description="engine=greedy: the site."),
        "urls": Param([], type="array", items={"type": "string"}, section="Other sources",
                      description="engine=urls: image URLs."),
        "batch_size": Param(0, type="integer", minimum=0, maximum=1000, section="Other sources",
                            description="Images per processing task; 0 chooses from the number of images."),
    },
)
def image_request():
    @task
    def check_request(params: dict) -> list[dict]:
        """Refuse a bad request before anything is fetched, processed or sent; one retrieval per keyword."""
        cfg = af.settings()
        try:
            validate_address(params["email"])
            return retrieval.plan_requests(params, scheduled=False, searches_file=cfg.searches_file,
                                           max_count=cfg.max_count)
        except ValueError as exc:
            raise AirflowFailException(f"invalid request: {exc}") from None

    @task(pool=DOWNLOAD_POOL, map_index_template="{{ request_name }}")
    def retrieve_images(request: dict, **context) -> dict:
        get_current_context()["request_name"] = f"{request['engine']}: {request['keyword']}"
        return af.run_retrieval(request, context)

    @task
    def plan_processing(params: dict, **context) -> list[dict]:
        request = {"recipes": [params["recipe"]], "batch_size": params["batch_size"]}
        return af.plan_processing(request, run_ids=[context["run_id"]])

    @task(map_index_template="{{ batch_name }}")
    def process_batch(batch: dict) -> dict:
        get_current_context()["batch_name"] = f"batch {batch['index']}: {len(batch['sha256s'])} images"
        return af.run_processing_batch(batch)

    @task(trigger_rule="none_failed")  # runs when every image was processed already (no batch)
    def deliver_archive(params: dict, **context) -> dict:
        request = {"selection": {"recipe": params["recipe"], "run_id": context["run_id"]}, "recipient": params["email"],
                   "occasion": af.delivery_occasion(context, per_run=True)}
        entry = af.run_delivery(request, context)
        if entry["status"] == "empty":
            raise AirflowFailException("no image of this request could be retrieved and processed: nothing to send")
        return entry

    planned = plan_processing()
    retrieve_images.expand(request=check_request()) >> planned
    process_batch.expand(batch=planned) >> deliver_archive()


image_request()
