"""Datasets: embedded tasks (no download) and loaders for standard files in a data folder."""
