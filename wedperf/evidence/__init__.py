"""The evidence package: forecasts vs actuals, plans, actions and per-wedding outcomes."""
