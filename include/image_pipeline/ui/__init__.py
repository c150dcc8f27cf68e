"""The gallery inside Airflow's UI: a FastAPI app (:func:`create_app`) over the catalog and the object
store, mounted by the thin plugin ``plugins/gallery.py`` at ``/gallery``, behind Airflow's login.

Besides :mod:`image_pipeline.airflow_adapter`, the only package that imports Airflow: its auth
manager (``airflow.api_fastapi.core_api.security``) guards every route (:mod:`.auth`), and every
other call into Airflow's internals is :mod:`.airflow_runs`'s: the runs the gallery starts, an
upload's inbox Asset event and the runs it started (tests/unit/ui/test_airflow_internals.py checks
each name). Modules: :mod:`.api` (the app factory, the protected OpenAPI schema and docs),
:mod:`.auth` (who may read, who may upload), :mod:`.backends` (store and catalog through ``wiring``
and the adapter's hooks), :mod:`.views` (catalog documents as the API's JSON), :mod:`.images`
(listing, facets, detail, metrics), :mod:`.editor` (the operations registry, the preview, recipes
checked, listed and saved), :mod:`.manage` (title, description, tags, trash), :mod:`.files` (image
bytes and the static bundle), :mod:`.uploads`, :mod:`.requests`, :mod:`.problems`; :mod:`.schemas`
(every answer's model and the one error shape) and :mod:`.openapi` (the document written to
``ui/openapi.json``).
"""

from image_pipeline.ui.api import create_app

__all__ = ["create_app"]
