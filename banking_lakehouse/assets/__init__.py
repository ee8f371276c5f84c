"""Software-defined assets, one module per layer: raw -> silver -> gold -> warehouse (+ aggregates, fraud)."""
