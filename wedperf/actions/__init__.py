"""Acting on the platform: capacity actuators, pre-warm, and the audit of every action."""
