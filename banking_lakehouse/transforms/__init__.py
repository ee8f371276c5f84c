"""Pure Spark transformations: DataFrames in, DataFrames out; the assets wire them to storage."""
