"""The operator's controllers (PodCliqueSet, PodCliqueScalingGroup, PodClique) and their pure builders."""
