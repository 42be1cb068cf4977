"""Analyses over the inventory: network, workload, rounds, zones, scenarios."""
