"""Side-by-side benchmarks: each script compares routes in one run and prints ratios."""
