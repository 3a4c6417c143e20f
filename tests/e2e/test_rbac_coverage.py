"""The RBAC of ``deploy/`` covers every request Grove's components make (a real cluster enforces it; the dev
cluster does not, so it records each request's authorization attributes instead and this test judges them).

One run of the whole stack as deployed: the operator (leader election, the admission webhooks with their
certificate Secret and caBundle injection), the scheduler extender (leader election, binding), and
``grove initc`` with the Role the operator grants it. The workload exercises every kind of child: scaling
groups, HPAs, start-up ordering (ServiceAccount, Role, RoleBinding, token Secret), scaling through the
scale subresources, a rolling update and the deletion. Each component's requests (told apart by
User-Agent) must be allowed by the rules bound to its ServiceAccount.

On the real control plane (``GROVE_K8S_ASSETS``) the session's stack is used as deployed (its webhooks,
whose CA injection is in the log since the start, and its extender behind the second kube-scheduler), with an
operator for the test's namespace leading through a Lease in grove-system, and ``grove initc`` with a token
of the ServiceAccount the operator made. The requests are read from the API server's audit log (every
request of a ServiceAccount but kube-system's): each account's requests are judged against ``deploy/``'s
rules as on the emulator (the operator's account: the operator and the webhooks; the extender's by its
User-Agent), and no request of any of them may have been refused with 403.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from grove.api import labels
from grove.controllers.desired.rbac import build_role
from grove.controllers.operator import USER_AGENT as OPERATOR_USER_AGENT
from grove.controllers.operator import OperatorOptions, run_operator
from grove.controllers.resources import (
    HORIZONTAL_POD_AUTOSCALERS,
    PCS_MEMBERS,
    PODCLIQUES,
    PODCLIQUESCALINGGROUPS,
    PODCLIQUESETS,
    ROLE_BINDINGS,
    ROLES,
    SERVICE_ACCOUNTS,
    SERVICES,
)
from grove.dev_command import prepare_dev_cluster
from grove.devcluster import ThreadedDevCluster
from grove.devcluster.cluster import DevCluster
from grove.devcluster.nodes import NodeShape
from grove.devcluster.requestlog import RequestAttributes, RequestLog
from grove.devcluster.simulation import SimulationOptions
from grove.devstack import DevStack, EmbeddedExtender, dev_topology, route_service
from grove.envtest.install import service_account_token
from grove.initc.command import USER_AGENT as INITC_USER_AGENT
from grove.initc.command import wait_for_parents
from grove.runtime.client import Client, RetryPolicy
from grove.runtime.informer import InformerOptions
from grove.runtime.leaderelection import LeaderElectionConfig
from grove.runtime.resources import NAMESPACES
from grove.scheduler.command import DEFAULT_LEASE
from grove.scheduler.service import USER_AGENT as EXTENDER_USER_AGENT
from grove.webhook import WebhookOptions, WebhookServer
from grove.webhook.manifests import webhook_configurations, webhook_service
from grove.webhook.provision import MUTATING_WEBHOOK_CONFIGURATIONS, VALIDATING_WEBHOOK_CONFIGURATIONS
from grove_expect import expected, load_sample, wait_converged

from .rbac_rules import (
    DEPLOY,
    denied,
    grants_of,
    load_manifests,
    role_grants,
    rule_requests,
)

SYSTEM = "grove-system"
SHAPE = NodeShape(cpu="8", memory="32Gi")
FAST = InformerOptions(backoff_initial=0.05, backoff_cap=0.2, backoff_reset=5.0)
OPERATOR_RBAC = load_manifests(DEPLOY / "operator" / "rbac.yaml")
SCHEDULER_RBAC = load_manifests(DEPLOY / "scheduler" / "rbac.yaml")


def _report(requests: list[RequestAttributes]) -> str:
    return "\n  ".join(
        f"{r.verb} {r.group or 'core'}/{r.resource}{'/' + r.subresource if r.subresource else ''}"
        f" ns={r.namespace or '-'} name={r.name or '-'}"
        for r in requests
    )


def test_operator_holds_what_its_initc_role_grants() -> None:
    # RBAC escalation prevention: creating a Role is forbidden unless its creator holds every permission in
    # it (or has the escalate verb, which the operator must not need).
    grants = grants_of(OPERATOR_RBAC, SYSTEM, "grove-operator")
    role = build_role("pcs", "ns")
    missing = denied(rule_requests(role["rules"], "ns"), grants)
    assert not missing, "the operator cannot grant what it does not hold:\n  " + _report(missing)


@dataclasses.dataclass
class RbacStack:
    """Where the test runs: the module's dev cluster, or the session's real control plane (``k8s``)."""

    kubeconfig: str
    dev: ThreadedDevCluster | None = None
    k8s: Any = None


@pytest.fixture(scope="module")
def stack(cluster: Any) -> Iterator[RbacStack]:
    """The dev cluster with fake nodes, the extender as deployed (leader election on) and the namespace the
    leases live in; or the session's real control plane as it is."""
    if cluster.k8s is not None:
        yield RbacStack(str(cluster.k8s.plane.kubeconfig_path), k8s=cluster.k8s)
        return
    if cluster.dev is None:
        pytest.skip("needs the dev cluster's request log or the real tier's audit log; GROVE_TEST_KUBECONFIG")
    extender = EmbeddedExtender(dev_topology(SHAPE), informer_options=FAST, settle_gc=False)
    extender.options = dataclasses.replace(
        extender.options,
        leader_election=LeaderElectionConfig(DEFAULT_LEASE, SYSTEM, lease_duration=15.0),
    )
    dev_stack = DevStack.build(
        SimulationOptions(
            shape=SHAPE,
            start_delay=0.05,
            init_container_duration=0.05,
            gate_recheck_interval=0.2,
            exit_on_sigterm_after=0.0,
        ),
        extender=extender,
    )

    def setup(cluster: DevCluster) -> None:
        cluster.server.request_log = RequestLog()
        cluster.store.create("namespaces", {"metadata": {"name": SYSTEM}})
        prepare_dev_cluster(cluster)
        dev_stack.setup(cluster)

    dev = ThreadedDevCluster(setup=setup, nodes=16, bookmark_interval=1.0, **dev_stack.cluster_kwargs())
    dev.start()
    try:
        yield RbacStack(dev.kubeconfig_path, dev=dev)
    finally:
        dev.stop()


@pytest_asyncio.fixture
async def admin(stack: RbacStack) -> AsyncIterator[Client]:
    """A client for the test's own requests (its User-Agent is none of Grove's)."""
    c = await Client.connect(
        stack.kubeconfig,
        retry=RetryPolicy(max_retries=4, base_delay=0.02),
        user_agent="rbac-coverage-test/1.0",
    )
    try:
        yield c
    finally:
        await c.close()


OPERATOR_USER = f"system:serviceaccount:{SYSTEM}:grove-operator"
SCHEDULER_USER = f"system:serviceaccount:{SYSTEM}:grove-scheduler"


def audited_requests(audit_log: Path, since: int = 0) -> tuple[list[RequestAttributes], list[str]]:
    """The resource requests of the audit log as the dev cluster's request log records them, the User-Agent
    telling the components apart (every request of the operator's account, the operator's and the webhooks',
    counts as the operator's; the extender's are told from the second kube-scheduler's, under the same
    account, by their User-Agent); and every request refused with 403 in the log past byte ``since`` (the
    test's own time: another test of the session may provoke a 403 on purpose)."""
    requests: set[RequestAttributes] = set()
    forbidden: list[str] = []
    offset = 0
    for line in audit_log.read_text().splitlines(keepends=True):
        offset += len(line.encode())
        event = json.loads(line)
        user, agent = event["user"]["username"], event.get("userAgent", "")
        if event.get("responseStatus", {}).get("code") == 403 and offset > since:
            forbidden.append(f"{user} ({agent}): {event['verb']} {event['requestURI']}")
        ref = event.get("objectRef")
        if ref is None:
            continue
        if user == OPERATOR_USER:
            agent = OPERATOR_USER_AGENT
        elif agent.startswith("grove-scheduler-extender/"):
            agent = EXTENDER_USER_AGENT
        elif agent.startswith("grove-initc/"):
            agent = INITC_USER_AGENT
        verb = event["verb"]
        requests.add(
            RequestAttributes(
                agent,
                verb,
                ref.get("apiGroup", ""),
                ref.get("resource", ""),
                ref.get("subresource", ""),
                ref.get("namespace", ""),
                # RBAC sees no name in a create (the audit log names the object created).
                "" if verb == "create" else ref.get("name", ""),
            )
        )
    return sorted(requests, key=str), forbidden


@contextlib.asynccontextmanager
async def namespace_operator(kubeconfig: str, namespace: str) -> AsyncIterator[None]:
    """On the real control plane: the operator for ``namespace`` under its ServiceAccount, leading through a
    Lease of its own in grove-system (the session's stack serves the webhooks)."""
    handle = await run_operator(
        kubeconfig,
        OperatorOptions(
            namespace=namespace,
            leader_election=True,
            leader_election_namespace=SYSTEM,
            leader_election_id=f"grove-test-{namespace}",
            metrics_port=0,
            informer_options=FAST,
            lease_duration=15.0,
        ),
    )
    try:
        yield
    finally:
        await handle.stop()


@contextlib.asynccontextmanager
async def initc_client(stack: RbacStack, admin: Client, namespace: str, pcs: str) -> AsyncIterator[Client]:
    """A client as ``grove initc`` has it: on the real control plane with a token of the ServiceAccount the
    operator bound its Role to."""
    if stack.k8s is None:
        async with await Client.connect(stack.kubeconfig, user_agent=INITC_USER_AGENT) as c:
            yield c
        return
    binding = await admin.get(ROLE_BINDINGS, f"grove.io:pcs:{pcs}", namespace)
    (subject,) = binding["subjects"]
    token = await service_account_token(admin, subject.get("namespace", namespace), subject["name"])
    kubeconfig = stack.k8s.plane.write_kubeconfig(
        f"initc-{namespace}.kubeconfig",
        user=f"system:serviceaccount:{namespace}:{subject['name']}",
        token=token,
    )
    async with await Client.connect(str(kubeconfig), user_agent=INITC_USER_AGENT) as c:
        yield c


@contextlib.asynccontextmanager
async def operator_with_webhooks(kubeconfig: str, admin: Client) -> AsyncIterator[None]:
    """``grove operator`` as deployed: leader election in grove-system, webhooks on its own client."""
    for config in webhook_configurations(SYSTEM):
        resource = (
            MUTATING_WEBHOOK_CONFIGURATIONS
            if config["kind"] == "MutatingWebhookConfiguration"
            else VALIDATING_WEBHOOK_CONFIGURATIONS
        )
        await admin.apply(resource, config, field_manager="rbac-test", force=True)
    await admin.apply(SERVICES, webhook_service(SYSTEM), field_manager="rbac-test", force=True)
    handle = await run_operator(
        kubeconfig,
        OperatorOptions(
            leader_election=True,
            leader_election_namespace=SYSTEM,
            metrics_port=0,
            informer_options=FAST,
            lease_duration=15.0,
        ),
    )
    webhook = WebhookServer(handle.client, WebhookOptions(port=0, host="127.0.0.1", namespace=SYSTEM))
    try:
        await webhook.start()
        await route_service(admin, SYSTEM, webhook.options.service_name, webhook.port)
        yield
    finally:
        await webhook.stop()
        await handle.stop()


def _workload(namespace: str) -> dict[str, Any]:
    manifest = load_sample("complete-inference-pipeline.yaml", namespace)
    template = manifest["spec"]["template"]
    template["cliques"][0]["spec"]["autoScalingConfig"] = {"maxReplicas": 4}
    template["podCliqueScalingGroups"][0]["scaleConfig"] = {"maxReplicas": 3}
    for clique in template["cliques"]:
        clique["spec"]["podSpec"]["schedulerName"] = "grove-scheduler"
    template["cliques"][1]["spec"]["startsAfter"] = [template["cliques"][0]["name"]]
    template["cliqueStartupType"] = "CliqueStartupTypeExplicit"
    return manifest


async def test_every_request_is_allowed_by_deploy_rbac(
    stack: RbacStack, admin: Client, wait_for: Any
) -> None:
    audit_since = stack.k8s.plane.audit_log.stat().st_size if stack.k8s is not None else 0
    namespace = f"rbac-{uuid.uuid4().hex[:8]}"
    await admin.create(NAMESPACES, {"metadata": {"name": namespace}})
    manifest = _workload(namespace)
    pcs = manifest["metadata"]["name"]
    if stack.k8s is not None:
        # A real API server refuses pods until kube-controller-manager made the default ServiceAccount.
        async def has_default_account() -> bool:
            accounts = await admin.list(SERVICE_ACCOUNTS, namespace, field_selector="metadata.name=default")
            return bool(accounts.items)

        await wait_for(has_default_account, timeout=30.0, message=f"ServiceAccount {namespace}/default")
        running = namespace_operator(stack.k8s.operator_kubeconfig, namespace)
    else:
        running = operator_with_webhooks(stack.kubeconfig, admin)
    async with running:
        await admin.create(PODCLIQUESETS, manifest)
        await wait_converged(admin, namespace, expected(manifest), timeout=60)
        await admin.scale(PODCLIQUESETS, pcs, 2, namespace)
        await admin.scale(PODCLIQUESCALINGGROUPS, f"{pcs}-0-decode-cluster", 2, namespace)
        await admin.scale(PODCLIQUES, f"{pcs}-0-frontend", 3, namespace)
        want = expected(
            manifest,
            replicas=2,
            group_replicas={f"{pcs}-0-decode-cluster": 2},
            pclq_replicas={f"{pcs}-0-frontend": 3},
        )
        await wait_converged(admin, namespace, want, timeout=60)
        assert (await admin.list(HORIZONTAL_POD_AUTOSCALERS, namespace)).items

        # grove initc, with the identity the operator gives it, waits for a parent clique.
        role = await admin.get(ROLES, f"grove.io:pcs:{pcs}", namespace)
        async with initc_client(stack, admin, namespace, pcs) as initc:
            parent = manifest["spec"]["template"]["cliques"][0]
            await asyncio.wait_for(
                wait_for_parents(initc, namespace, f"{pcs}-0", {f"{pcs}-0-{parent['name']}": 1}), 30
            )

        # blockOwnerDeletion on an owner reference needs update on the owner's finalizers subresource
        # (OwnerReferencesPermissionEnforcement); collect the owners the operator's children name.
        owners: set[RequestAttributes] = set()
        selector = f"{labels.PART_OF}={pcs}"
        for resource in PCS_MEMBERS:
            for obj in (await admin.list(resource, namespace, label_selector=selector)).items:
                for ref in obj["metadata"].get("ownerReferences") or ():
                    if ref.get("blockOwnerDeletion"):
                        group = ref["apiVersion"].rpartition("/")[0]
                        plural = {"PodCliqueSet": "podcliquesets", "PodClique": "podcliques"}.get(
                            ref["kind"], ref["kind"].lower() + "s"
                        )
                        owners.add(
                            RequestAttributes(
                                OPERATOR_USER_AGENT,
                                "update",
                                group,
                                plural,
                                "finalizers",
                                namespace,
                                ref["name"],
                            )
                        )
        assert owners, "the operator's children carry owner references"

        # A rolling update, then the deletion.
        current = await admin.get(PODCLIQUESETS, pcs, namespace)
        current["spec"]["template"]["cliques"][0]["spec"]["podSpec"]["containers"][0]["env"] = [
            {"name": "ROLLED", "value": "1"}
        ]
        await admin.update(PODCLIQUESETS, current)
        await wait_converged(admin, namespace, want, timeout=60)
        await admin.delete(PODCLIQUESETS, pcs, namespace)

        async def gone() -> bool:
            return not (await admin.list(PODCLIQUES, namespace)).items

        deadline = asyncio.get_running_loop().time() + 60
        while not await gone():
            assert asyncio.get_running_loop().time() < deadline, "the PodCliqueSet's children are deleted"
            await asyncio.sleep(0.1)

    forbidden: list[str] = []
    if stack.k8s is not None:
        requests, forbidden = audited_requests(stack.k8s.plane.audit_log, audit_since)
    else:
        assert stack.dev is not None
        log = stack.dev.cluster.server.request_log
        assert log is not None
        requests = log.snapshot()
    by_agent: dict[str, list[RequestAttributes]] = {}
    for r in requests:
        by_agent.setdefault(r.user_agent, []).append(r)
    operator_requests = by_agent.get(OPERATOR_USER_AGENT, [])
    extender_requests = by_agent.get(EXTENDER_USER_AGENT, [])
    initc_requests = by_agent.get(INITC_USER_AGENT, [])
    assert operator_requests and extender_requests and initc_requests, sorted(by_agent)
    verbs = {(r.resource, r.subresource, r.verb) for r in operator_requests}
    assert ("leases", "", "update") in verbs, "the operator led"
    assert ("validatingwebhookconfigurations", "", "update") in verbs, "the webhook injected its CA"
    assert ("pods", "binding", "create") in {(r.resource, r.subresource, r.verb) for r in extender_requests}

    failures = []
    operator_grants = grants_of(OPERATOR_RBAC, SYSTEM, "grove-operator")
    for who, reqs, grants in (
        ("grove-operator", [*operator_requests, *owners], operator_grants),
        ("grove-scheduler-extender", extender_requests, grants_of(SCHEDULER_RBAC, SYSTEM, "grove-scheduler")),
        ("grove-initc", initc_requests, role_grants(role)),
    ):
        missing = denied(reqs, grants)
        if missing:
            failures.append(f"{who} is not allowed to:\n  {_report(missing)}")
    assert not failures, "\n".join(failures)
    assert not forbidden, "requests refused with 403:\n  " + "\n  ".join(forbidden)
