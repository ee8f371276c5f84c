"""The three resources that carry all I/O (Spark, the lake, PostgreSQL) and the delivery source and PII key;
`deployments` builds them for an environment."""
