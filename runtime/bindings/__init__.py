"""Local bindings: one module per binding type (queues, durable_objects, service, ...)."""
