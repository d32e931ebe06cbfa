"""The background services: consume a message, do the work, make the result durable, ack."""
