"""Calendar-aware load forecasting (statsmodels)."""
