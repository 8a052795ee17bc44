def get_provider_info() -> dict:
    return {"package-name": "airflow-provider-sky", "name": "Sky", "description": "Sky computing", "versions": ["0.1.0"]}
