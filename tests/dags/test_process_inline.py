"""gallery_process with a small plan (an upload's few photos): plan_batches processes them itself and
maps no batch, summarize still counts them and emits gallery_processed_images (so analytics and
delivery follow); a plan past INLINE_IMAGES fans out to process_batch as before."""

from __future__ import annotations

from dags.test_dags import catalog_docs, run, task_states


def photos_in_inbox(pipeline_env, samples, count: int) -> None:
    from image_pipeline.core.storage import LocalStore

    store = LocalStore(pipeline_env)
    for path in sorted(samples.glob("sample-*"))[:count]:  # the readable ones
        store.put_file(f"inbox/{path.name}", path)


def processed_event(run_id: str) -> dict | None:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        event = session.query(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id).filter(
            AssetModel.name == "gallery_processed_images", AssetEvent.source_run_id == run_id).one_or_none()
        return dict(event.extra) if event else None


def test_a_small_plan_is_processed_by_the_planning_task(dags, pipeline_env, samples, tmp_path):
    from image_pipeline.airflow_adapter.tasks import INLINE_IMAGES

    photos_in_inbox(pipeline_env, samples, INLINE_IMAGES)
    run(dags, "gallery_inbox", {"keyword": "uploaded"})
    dag_run = run(dags, "gallery_process")
    states = task_states(dag_run)
    assert states[("plan_batches", -1)][0] == "success" and states[("summarize", -1)][0] == "success"
    assert not any(task == "process_batch" and state == "success" for (task, _), (state, _) in states.items())
    docs, _ = catalog_docs(tmp_path)
    assert sorted(d["status"] for d in docs) == ["processed"] * INLINE_IMAGES
    assert all({"half_gray", "thumb"} <= set(d["outputs"]) for d in docs)
    assert processed_event(dag_run.run_id)["processed"] == INLINE_IMAGES  # downstream DAGs follow


def test_a_larger_plan_fans_out_to_process_batch(dags, pipeline_env, samples, tmp_path):
    from image_pipeline.airflow_adapter.tasks import INLINE_IMAGES

    extra = 1
    photos_in_inbox(pipeline_env, samples, INLINE_IMAGES + extra)
    run(dags, "gallery_inbox", {"keyword": "uploaded"})
    dag_run = run(dags, "gallery_process")
    states = task_states(dag_run)
    mapped = [state for (task, _), (state, _) in states.items() if task == "process_batch"]
    assert mapped and set(mapped) == {"success"}
    assert [d["status"] for d in catalog_docs(tmp_path)[0]] == ["processed"] * (INLINE_IMAGES + extra)
    assert processed_event(dag_run.run_id)["processed"] == INLINE_IMAGES + extra
