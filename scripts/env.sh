# The project's Airflow configuration, sourced by scripts/airflow, the Makefile and the tests.
# Everything lives inside the project: AIRFLOW_HOME is .airflow/ (git-ignored), DAGs and plugins
# come from this checkout, and no example DAGs are loaded.
PROJECT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PROJECT_ROOT
export AIRFLOW_HOME="${AIRFLOW_HOME:-$PROJECT_ROOT/.airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$PROJECT_ROOT/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$PROJECT_ROOT/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION="${AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION:-False}"
# `airflow standalone` spawns `airflow` subcommands: the venv's bin must come first on PATH.
export PATH="$PROJECT_ROOT/.venv/bin:$PATH"
