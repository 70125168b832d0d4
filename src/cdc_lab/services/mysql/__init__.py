"""The lab's mysql, as tests use it: client, fixtures and leftover check."""
