-- One server, two databases: the warehouse (gold star schema) and Dagster's own storage.
CREATE DATABASE warehouse;
CREATE DATABASE dagster;
