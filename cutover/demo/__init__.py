"""Sample workers and their task functions, used by ``cutover demo`` and the benchmarks."""
