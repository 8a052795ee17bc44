"""Lineage: OpenLineage datasets and facets for both operators, and Airflow Assets on request.

``naming`` is plain Python (OpenLineage's dataset naming and Asset URIs from an ObjectURI);
``facets`` builds the provider's ``OperatorLineage`` and imports the OpenLineage client only
when called, so a deployment without lineage never pays that import; ``assets`` builds
``airflow.sdk.Asset`` objects for ``assets=True``.
"""
