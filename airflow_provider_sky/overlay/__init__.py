"""The overlay runner: plans become running gateways that move the bytes (imports no Airflow)."""
