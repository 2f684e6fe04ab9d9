"""No-op plugins for the benchmarks."""
