"""What is computed on the projection: distress, risk, consolidation index, valuation,
reverse stress, Monte Carlo, calibration."""
