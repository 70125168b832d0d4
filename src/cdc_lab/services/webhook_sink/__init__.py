"""The lab's webhook_sink, as tests use it: client, fixtures and leftover check."""
