"""
### gallery_inbox: files dropped into the inbox, ingested at once

Drop files into the store's `inbox/` zone (`gallery upload DIR`, a copy into `data/inbox/`,
or an upload to the S3 prefix) and this DAG ingests them without waiting for any schedule: an
`AssetWatcher` on `gallery_inbox_files` runs `InboxTrigger` in the triggerer, which fires once the
inbox holds files and has been quiet for a few seconds. Each file is moved into the raw zone once
(content-addressed, a duplicate of a known image only adds provenance) and the run emits
`gallery_raw_images`, so `gallery_process` follows.
"""

from __future__ import annotations

from airflow.sdk import Param, dag

from image_pipeline.airflow_adapter import DEFAULT_ARGS, INBOX_FILES, START_DATE
from image_pipeline.airflow_adapter import params as form
from image_pipeline.airflow_adapter.tasks import ingest_inbox


@dag(
    dag_id="gallery_inbox",
    schedule=[INBOX_FILES],
    start_date=START_DATE,
    catchup=False,
    max_active_runs=1,  # one run drains the inbox; the next event finds what arrived since
    default_args=DEFAULT_ARGS,
    tags=["image-pipeline", "retrieve"],
    doc_md=__doc__,
    params={"keyword": Param("inbox", type="string", **form.TEXT, title="Keyword",
                             description="The label recorded on the ingested images (the gallery filters by it).")},
)
def gallery_inbox():
    ingest_inbox()


gallery_inbox()
