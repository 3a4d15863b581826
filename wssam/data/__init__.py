"""Datasets: the embedded demo generator, real dataset discovery, sparse-label simulation, manifests."""
