"""The gallery API against Airflow's real auth manager (the simple auth manager, with an admin, a
user and a viewer, tokens from the manager itself) and a real Airflow metadata DB, over a gallery
made by the pipeline's own ingestion and processing, on each catalog backend."""

from __future__ import annotations

import os

import pytest

USERS = "admin:admin,editor:user,viewer:viewer"


@pytest.fixture(scope="session")
def auth_manager(airflow_db):
    os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] = USERS
    os.environ.setdefault("AIRFLOW__API_AUTH__JWT_SECRET", "gallery-tests-" + "s" * 64)
    from airflow.api_fastapi.app import init_auth_manager

    return init_auth_manager()


@pytest.fixture(scope="session")
def tokens(auth_manager):
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return {name: auth_manager.generate_jwt(SimpleAuthManagerUser(username=name, role=role))
            for name, role in (u.split(":") for u in USERS.split(","))}


@pytest.fixture(scope="session")
def gallery_files(tmp_path_factory):
    """Ingested and processed once: the store's files and the catalog's documents, copied into each
    test's backends."""
    from image_pipeline.core.catalog import SqliteCatalog
    from image_pipeline.core.storage import LocalStore
    from image_pipeline.process.batches import process_batch
    from image_pipeline.retrieve.ingest import ingest_folder
    from support.samples import make_samples

    root = tmp_path_factory.mktemp("gallery")
    make_samples(root / "samples")
    store = LocalStore(root / "store")
    with SqliteCatalog(root / "catalog.sqlite3") as catalog:
        ingest_folder(store, catalog, root / "samples", keyword="lighthouse", run_id="manual__1")
        pending = [d["sha256"] for d in catalog.find(status="raw")]
        from image_pipeline.process.features import FEATURES_VERSION, extract_features, near_duplicate_of
        from image_pipeline.process.models.embedding import embedding_features

        def features(im, exif):  # with the similar-images embedding
            return {**extract_features(im, exif), **embedding_features(im)}

        process_batch(store, catalog, ["thumb", "half_gray"], pending, features=features,
                      features_version=FEATURES_VERSION, near_duplicate=near_duplicate_of)
        docs = catalog.find()
    return store, docs


@pytest.fixture(params=["sqlite", "mongomock"])
def backends(request, gallery_files, tmp_path):
    """The same gallery on SQLite and on MongoDB (mongomock), on a local store."""
    from image_pipeline.core.catalog import MongoCatalog, SqliteCatalog
    from image_pipeline.settings import Settings
    from image_pipeline.ui.backends import Backends
    from support.synthetic import insert_docs

    import shutil

    from image_pipeline.core.storage import LocalStore

    original, docs = gallery_files
    store = LocalStore(shutil.copytree(original.root, tmp_path / "store"))  # each test its own files
    if request.param == "sqlite":
        path = tmp_path / "catalog.sqlite3"
        with SqliteCatalog(path) as cat:
            insert_docs(cat, docs)
        factory = lambda: SqliteCatalog(path)  # noqa: E731 - one per thread, as in the app
    else:
        import mongomock

        shared = MongoCatalog(mongomock.MongoClient()["gallery"])
        insert_docs(shared, docs)
        factory = lambda: shared  # noqa: E731
    return Backends(Settings(store={"store_url": store.url}, catalog={"sqlite_path": str(tmp_path / "unused.sqlite3")}), store=store,
                    catalog=factory)


@pytest.fixture
def app(backends, auth_manager):
    from image_pipeline.ui import create_app

    return create_app(backends)


@pytest.fixture
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        yield c


@pytest.fixture
def as_user(tokens):
    def headers(name: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[name]}"}
    return headers
