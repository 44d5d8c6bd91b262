"""The values the planner compares: desired and observed configurations in one vocabulary."""
