"""Transfer planner: pure functions over measured region grids (no cloud calls, no Airflow).

Entry points: :func:`load_grid`, :func:`plan_unicast`, :func:`plan_multicast`, :func:`pareto`.
"""
