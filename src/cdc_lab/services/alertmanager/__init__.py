"""The lab's alertmanager, as tests use it: client, fixtures and leftover check."""
