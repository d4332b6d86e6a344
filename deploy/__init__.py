"""Deployment assets shipped with the package (the local Apache Kafka used by tests and the demo)."""
