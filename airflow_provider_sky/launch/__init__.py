"""Launch: run a task on the cheapest feasible cloud, region and instance, failing over on capacity errors."""
