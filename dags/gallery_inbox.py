"""
### gallery_inbox: files dropped into the inbox, ingested at once

Drop files into the store's `inbox/` zone (`image-pipeline upload DIR`, a copy into `data/inbox/`,
or an upload to the S3 prefix) and this DAG ingests them without waiting for any schedule: an
`AssetWatcher` on `gallery_inbox_files` runs `InboxTrigger` in the triggerer, which fires once the
inbox holds files and has been quiet for a few seconds. Each file is moved into the raw zone once
(content-addressed, a duplicate of a known image only adds provenance) and the run emits
`gallery_raw_images`, so `gallery_process` follows.
"""

from __future__ import annotations

from airflow.sdk import Param, dag, task

from image_pipeline import airflow_adapter as af
from image_pipeline.airflow_adapter import DEFAULT_ARGS, DOWNLOAD_POOL, INBOX_FILES, RAW_IMAGES, START_DATE
from image_pipeline.retrieve.request import validate_request


@dag(
    dag_id="gallery_inbox",
    schedule=[INBOX_FILES],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,  # one run drains the inbox; the next event finds what arrived since
    default_args=DEFAULT_ARGS,
    tags=["image-pipeline", "retrieve"],
    doc_md=__doc__,
    params={"keyword": Param("inbox", type="string", minLength=1, maxLength=100,
                             description="Label recorded on the ingested images.")},
)
def gallery_inbox():
    @task(outlets=[RAW_IMAGES], pool=DOWNLOAD_POOL)
    def ingest_inbox(params: dict, **context) -> dict:
        (request,) = validate_request(engine="inbox", keywords=[params["keyword"]])
        return af.run_retrieval(request, context)

    ingest_inbox()


gallery_inbox()
