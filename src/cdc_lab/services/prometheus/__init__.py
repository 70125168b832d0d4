"""The lab's prometheus, as tests use it: client, fixtures and leftover check."""
