"""The lab's Kafka broker: topics, readers of change events, and the fixtures that clean them up."""
