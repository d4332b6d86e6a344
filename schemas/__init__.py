"""The event contract: JSON Schemas, typed events, the decoder, the DLQ envelope and the config model."""
