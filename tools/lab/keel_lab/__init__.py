"""keel-lab: the load lab (docs/lab.md)."""
