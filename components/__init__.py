"""The DANDI hub's infrastructure, one component per file."""
