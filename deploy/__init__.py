"""Deployment recipes: N replicas behind HAProxy on one machine (``python -m deploy.replicas``);
the Dockerfile at the repository root and ``deploy/kubernetes.yaml`` for a cluster. See
docs/hosting.md."""
