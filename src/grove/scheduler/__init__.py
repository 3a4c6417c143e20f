"""Topology-aware, all-or-nothing gang placement for PodGangs, served as a kube-scheduler extender.

Layers, each usable on its own: ``quantity`` and ``resources`` (Kubernetes resource arithmetic),
``predicates`` (taints, nodeSelector, node affinity), ``topology`` (domain tree and free capacity),
``gang`` (PodGang wire format), ``planner`` (pure placement), ``ledger`` (reservations fed by informer
events), ``extender`` and ``server`` (the HTTP protocol), ``metrics``.
"""
