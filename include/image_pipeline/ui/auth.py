"""Who may do what, in the permissions Airflow already models, through its auth manager.

Airflow gives a plugin's FastAPI app no authentication of its own: every route of the gallery
depends on :data:`can_read` (the app's own dependency, so a new route cannot be added unprotected)
and uploading on :data:`can_upload` besides. A same-origin browser call is authenticated by the
``_token`` cookie Airflow's UI holds, a script by ``Authorization: Bearer <JWT from POST /auth/token>``.
Anonymous: 401; logged in without the permission: 403.

- reading (the gallery, its images and files, metrics, recipes, the schema and docs, the bundle):
  read access to the DAG ``gallery_process`` (the one that makes what the gallery shows);
- uploading: the right to trigger ``gallery_inbox`` (create a DAG run of it), as uploads start it;
- requesting images (``POST /api/requests``): the right to trigger ``image_request``;
- writing (saving a recipe, editing an image's title, description and tags, trash and restore): the
  right to trigger ``gallery_process`` (:data:`can_write`), whose runs apply what is written. Refused,
  the answer is a 403 whose ``detail`` says what right is missing (the editor shows it).
"""

from __future__ import annotations

from airflow.api_fastapi.auth.managers.models.resource_details import DagAccessEntity
from airflow.api_fastapi.core_api.security import GetUserDep, requires_access_dag
from fastapi import HTTPException, Request

READ_DAG = "gallery_process"
UPLOAD_DAG = "gallery_inbox"
REQUEST_DAG = "image_request"
WRITE_DAG = "gallery_process"

can_read = requires_access_dag("GET", param_dag_id=READ_DAG)
can_upload = requires_access_dag("POST", DagAccessEntity.RUN, param_dag_id=UPLOAD_DAG)
can_request = requires_access_dag("POST", DagAccessEntity.RUN, param_dag_id=REQUEST_DAG)
_may_trigger_process = requires_access_dag("POST", DagAccessEntity.RUN, param_dag_id=WRITE_DAG)


def can_write(request: Request, user: GetUserDep) -> None:
    """The right to trigger ``gallery_process``; refused with a sentence a person can read."""
    try:
        _may_trigger_process(request, user)
    except HTTPException as exc:
        if exc.status_code != 403:
            raise
        raise HTTPException(403, f"{user.get_name()} may only look: saving recipes and changing images needs the "
                                 f"right to trigger {WRITE_DAG} (ask an administrator for the User role)") from None


__all__ = ["GetUserDep", "READ_DAG", "REQUEST_DAG", "UPLOAD_DAG", "WRITE_DAG", "can_read", "can_request",
           "can_upload", "can_write"]
