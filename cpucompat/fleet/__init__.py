"""Fleet analysis: hosts x features as bit matrices, ingest, tables on disk, synthetic fleets."""
