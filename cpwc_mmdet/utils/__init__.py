"""Tooling shared by the tools and tests: CLI helpers, argument checks,
checkpoint I/O, census. Nothing here imports the model code."""
