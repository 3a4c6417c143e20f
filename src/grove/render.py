"""``grove render FILE``: validate a PodCliqueSet manifest and print every object the operator will create.

The objects come from :mod:`grove.controllers.desired`, the builders the controllers use, with the template
replica counts. Invalid input prints the field errors on stderr and exits 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from typing import Any, TextIO

import yaml

from grove import __version__
from grove.api.admission import admit_create
from grove.api.errors import GroveValidationError
from grove.api.podcliqueset import PodCliqueSet
from grove.api.topology import ClusterTopologyBinding
from grove.controllers.desired import (
    build_headless_service,
    build_hpas,
    build_pod,
    build_podclique,
    build_podgangs,
    build_scaling_group,
    podclique_refs,
)

DEFAULT_INITC_IMAGE = f"grove:{__version__}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``grove render``."""
    parser.add_argument("file", help="PodCliqueSet manifest (YAML or JSON; '-' for stdin)")
    parser.add_argument("-o", "--output", choices=("yaml", "table"), default="yaml", help="output format")
    parser.add_argument(
        "--topology",
        metavar="FILE",
        help="ClusterTopologyBinding manifest to check topology constraints against and translate them with",
    )
    parser.add_argument(
        "--initc-image", default=DEFAULT_INITC_IMAGE, help="image of the grove-initc init container"
    )


def render_objects(
    pcs: PodCliqueSet, initc_image: str = DEFAULT_INITC_IMAGE, topology: ClusterTopologyBinding | None = None
) -> Iterator[dict[str, Any]]:
    """Manifests of every object the operator creates for the defaulted ``pcs``, replica by replica."""
    for i in range(pcs.spec.replicas):
        yield build_headless_service(pcs, i)
        yield from build_hpas(pcs, i)
        refs = podclique_refs(pcs, i)
        pclqs = [(ref, build_podclique(pcs, ref)) for ref in refs]
        for ref, pclq in pclqs:
            if ref.group is None:
                yield pclq.to_dict()
        for group in pcs.spec.template.pod_clique_scaling_groups:
            yield build_scaling_group(pcs, i, group.name).to_dict()
            for ref, pclq in pclqs:
                if ref.group == group.name:
                    yield pclq.to_dict()
        for gang in build_podgangs(pcs, i, topology=topology):
            yield gang.to_dict()
        for ref, pclq in pclqs:
            for index in range(pclq.spec.replicas):
                yield build_pod(pcs, pclq, ref, index, initc_image)


def _details(obj: dict[str, Any]) -> str:
    kind, spec, meta = obj["kind"], obj.get("spec", {}), obj["metadata"]
    lbl = meta.get("labels", {})
    if kind == "Service":
        return f"clusterIP=None publishNotReadyAddresses={str(spec['publishNotReadyAddresses']).lower()}"
    if kind == "HorizontalPodAutoscaler":
        ref = spec["scaleTargetRef"]
        return f"target={ref['kind']}/{ref['name']} min={spec['minReplicas']} max={spec['maxReplicas']}"
    counts = f"replicas={spec.get('replicas')} minAvailable={spec.get('minAvailable')}"
    if kind == "PodClique":
        return f"{counts} podgang={lbl['grove.io/podgang']}"
    if kind == "PodCliqueScalingGroup":
        return f"{counts} cliques={','.join(spec['cliqueNames'])}"
    if kind == "PodGang":
        return " ".join(f"{g['name']}(min={g['minReplicas']})" for g in spec["podgroups"])
    return f"hostname={spec['hostname']} subdomain={spec['subdomain']} podgang={lbl['grove.io/podgang']}"


def write_table(objects: list[dict[str, Any]], out: TextIO) -> None:
    """One line per object: KIND, NAME (a pod's generateName), details."""
    rows = [
        (o["kind"], o["metadata"].get("name") or o["metadata"]["generateName"], _details(o)) for o in objects
    ]
    kind_w = max([len("KIND"), *(len(r[0]) for r in rows)])
    name_w = max([len("NAME"), *(len(r[1]) for r in rows)])
    out.write(f"{'KIND':<{kind_w}}  {'NAME':<{name_w}}  DETAILS\n")
    for kind, name, details in rows:
        out.write(f"{kind:<{kind_w}}  {name:<{name_w}}  {details}\n")


def _load(path: str) -> list[Any]:
    text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()  # noqa: SIM115
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


def run(args: argparse.Namespace) -> int:
    """Render the manifest; 1 on invalid input (errors on stderr), 0 otherwise."""
    try:
        docs = _load(args.file)
        topology = None
        if args.topology:
            (ct,) = _load(args.topology)
            topology = ClusterTopologyBinding.from_dict(ct)
    except (OSError, yaml.YAMLError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not docs:
        print(f"error: {args.file}: no PodCliqueSet found", file=sys.stderr)
        return 1
    objects: list[dict[str, Any]] = []
    failed = False
    for doc in docs:
        try:
            pcs = admit_create(doc, topology)
        except GroveValidationError as exc:
            failed = True
            print(f'{exc.kind} "{exc.name}" is invalid:', file=sys.stderr)
            for error in exc.errors:
                print(f"  {error}", file=sys.stderr)
            continue
        objects += render_objects(pcs, args.initc_image, topology)
    if failed:
        return 1
    if args.output == "table":
        write_table(objects, sys.stdout)
    else:
        yaml.safe_dump_all(objects, sys.stdout, sort_keys=False, default_flow_style=False, width=1000)
    return 0
