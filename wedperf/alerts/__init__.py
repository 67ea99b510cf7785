"""Alert webhooks: receiver, payload schemas, auth, the durable inbox and dispatch."""
