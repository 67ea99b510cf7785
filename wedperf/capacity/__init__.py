"""Capacity ahead of weddings: the plan of runs, the floor policy, the targets' state."""
