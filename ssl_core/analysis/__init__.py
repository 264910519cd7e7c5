"""Analysis of trained features: extraction, similarity, attention, projections, probes, dictionaries."""
