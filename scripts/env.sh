# The project's Airflow configuration, sourced by the scripts beside it.
# Everything lives inside the project: AIRFLOW_HOME is .airflow/ (git-ignored), DAGs and plugins
# come from this checkout, and no example DAGs are loaded.
PROJECT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PROJECT_ROOT
export AIRFLOW_HOME="${AIRFLOW_HOME:-$PROJECT_ROOT/.airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$PROJECT_ROOT/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$PROJECT_ROOT/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="${AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION:-False}"
# Airflow's settings every deployment shares (config/airflow.env, which says why each); the environment's
# own value wins.
while IFS='=' read -r key value; do
  if [[ -n "$key" && "$key" != \#* && -z "${!key:-}" ]]; then
    export "$key=$value"
  fi
done < "$PROJECT_ROOT/config/airflow.env"
# `airflow standalone` spawns `airflow` subcommands: the venv's bin must come first on PATH.
export PATH="$PROJECT_ROOT/.venv/bin:$PATH"
# Airflow's metadata DB: a PostgreSQL server the project starts itself (data in $AIRFLOW_HOME/postgres,
# kept), or IMAGE_PIPELINE_METADATA=sqlite ($AIRFLOW_HOME/airflow.db), or whatever
# AIRFLOW__DATABASE__SQL_ALCHEMY_CONN already names (see include/image_pipeline/metadata_db.py).
# A script that runs Airflow calls `on_metadata_db -- "$0" "$@"` first: unless a database is already
# given, it runs again with the project's one held for it (started unless another command runs on
# it, stopped after the last one). `on_metadata_db --own-group -- ...`: see metadata_db.py (standalone).
on_metadata_db() {
  if [[ -z "${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-}" ]]; then
    exec "$PROJECT_ROOT/.venv/bin/python" -m image_pipeline.metadata_db run "$@"
  fi
}
