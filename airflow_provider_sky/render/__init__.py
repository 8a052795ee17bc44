"""Pictures of plans as inline SVG: the route on a map-like layout, the Pareto curve, launch candidates.

Pure Python with no Airflow and no plotting library, so the plan view, the CLI and the docs build
can all draw the same pictures from the same plain data (the XCom shapes), and a browser shows
them without loading anything else. ``planner/plot.py`` stays the matplotlib (PNG) variant.
"""
