"""``grove initc``: the start-up ordering init container, and its readiness rule.

A pod of a clique that starts after others runs ``grove initc --podcliques=<pclq>:<minAvailable> ...`` as its
last init container; it exits once each parent PodClique has at least minAvailable Ready pods in the pod's
PodGang. :mod:`grove.initc.rule` is the rule itself (shared with the dev cluster's kubelet gate),
:mod:`grove.initc.command` the command.
"""
