"""Grove in Python: a Kubernetes operator that deploys AI inference systems from one PodCliqueSet."""

__version__ = "0.1.0"
