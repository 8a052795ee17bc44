"""Developer tools shared by the tests, the demo and the benchmarks (not used in production)."""
