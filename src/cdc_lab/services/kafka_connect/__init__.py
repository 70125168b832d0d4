"""The lab's Kafka Connect worker and its Debezium connectors."""
