"""The lab's spark, as tests use it: client, fixtures and leftover check."""
