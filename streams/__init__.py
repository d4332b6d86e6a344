"""Wiring: the command line, the Faust app, Kafka topics, metrics and drivers. No detection logic."""
