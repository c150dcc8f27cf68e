"""image_pipeline: the domain library behind the gallery DAGs.

Retrieval, processing, analytics and delivery of images over an object store and a catalog, with
no Airflow import outside :mod:`image_pipeline.airflow_adapter`, so it is testable and usable from
the command line (``gallery --help``).
"""

# The release, bumped with every change to what processing decides: a quarantine records the release
# that decided it, and an image quarantined as "unexpected" by an older release is tried once more.
RELEASE = "0.2.0"
