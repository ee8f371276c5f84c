-- The generator's record of the simulated days applied to the core-banking source (outside `core`:
-- the bank's schema holds only its own tables). A day's changes are applied once. Re-runnable.
CREATE SCHEMA IF NOT EXISTS core_simulation;

CREATE TABLE IF NOT EXISTS core_simulation.applied_days (
    day date PRIMARY KEY,
    seed integer NOT NULL
);
