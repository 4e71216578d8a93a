"""Executors that launch planned compute jobs: Ray, and Kubernetes and Slurm manifests."""
