"""The gateway daemon: control API, data channel and stages. Imports no Airflow (a VM image stays small)."""
