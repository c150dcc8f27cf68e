"""
### gallery_retrieve: images into the gallery

Brings images into the raw zone of the object store and records one catalog document per distinct
image (content hash, source, keyword, run, timestamps). Sources, chosen in the trigger form:

- **folder**: every file under a local folder (uploads);
- **urls**: a list of image URLs, fetched with icrawler's `UrlListCrawler`.

Re-running a request stores nothing twice: objects and records are keyed by the image's sha256.
Files that are not images are quarantined with the reason. Emits the `gallery_raw_images` Asset,
which triggers `gallery_process`.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, task
from airflow.sdk.exceptions import AirflowFailException

from image_pipeline import airflow_adapter as af
from image_pipeline import retrieve as retrieval
from image_pipeline.airflow_adapter import DEFAULT_ARGS, RAW_IMAGES, START_DATE


@dag(
    dag_id="gallery_retrieve",
    schedule=None,
    start_date=START_DATE,
    catchup=False,
    max_active_runs=4,
    default_args=DEFAULT_ARGS,
    tags=["image-pipeline", "retrieve"],
    doc_md=__doc__,
    params={
        "source": Param("folder", type="string", enum=["folder", "urls"], description="Where images come from."),
        "folder": Param("", type="string", description="source=folder: a local folder of images."),
        "urls": Param([], type="array", items={"type": "string"}, description="source=urls: image URLs, one per line."),
        "keyword": Param("uploads", type="string", minLength=1, maxLength=100,
                         description="Label recorded on every image; deliveries select by it."),
    },
)
def gallery_retrieve():
    @task
    def validate_request(params: dict) -> dict:
        """Refuse a bad request before anything is downloaded or stored."""
        try:
            return retrieval.validate_request(source=params["source"], folder=params["folder"], urls=params["urls"],
                            keyword=params["keyword"])
        except ValueError as exc:
            raise AirflowFailException(f"invalid request: {exc}") from None  # retrying cannot help

    @task(outlets=[RAW_IMAGES])
    def retrieve_images(request: dict, **context) -> dict:
        run_id = context["run_id"]
        cfg = af.settings()
        with af.catalog(cfg) as catalog:
            summary = retrieval.retrieve(af.object_store(cfg), catalog, request, run_id=run_id,
                                         policy=cfg.fetch_policy())
        result = {"run_id": run_id, "keyword": request["keyword"], "source": request["source"], **summary.as_dict()}
        context["outlet_events"][RAW_IMAGES].extra = result
        return result

    retrieve_images(validate_request())


gallery_retrieve()
