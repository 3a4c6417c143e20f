"""``KubeSchedulerConfiguration`` (``kubescheduler.config.k8s.io/v1``) for the scheduler stand-in: profiles,
extenders, ``percentageOfNodesToScore`` and the pod backoff, validated as kube-scheduler validates them.

Fields kube-scheduler has but the stand-in does not use (leader election, client connection, parallelism,
plugin configuration) are accepted and ignored; unknown fields are rejected, as kube-scheduler's strict
decoding does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

API_VERSION = "kubescheduler.config.k8s.io/v1"
KIND = "KubeSchedulerConfiguration"
DEFAULT_SCHEDULER = "default-scheduler"
DEFAULT_EXTENDER_TIMEOUT = 5.0

_TOP_FIELDS = {
    "apiVersion",
    "kind",
    "parallelism",
    "leaderElection",
    "clientConnection",
    "healthzBindAddress",
    "metricsBindAddress",
    "enableProfiling",
    "enableContentionProfiling",
    "percentageOfNodesToScore",
    "podInitialBackoffSeconds",
    "podMaxBackoffSeconds",
    "profiles",
    "extenders",
    "delayCacheUntilActive",
}
_PROFILE_FIELDS = {"schedulerName", "percentageOfNodesToScore", "plugins", "pluginConfig"}
_EXTENDER_FIELDS = {
    "urlPrefix",
    "filterVerb",
    "preemptVerb",
    "prioritizeVerb",
    "weight",
    "bindVerb",
    "enableHTTPS",
    "tlsConfig",
    "httpTimeout",
    "nodeCacheCapable",
    "managedResources",
    "ignorable",
}
_TLS_FIELDS = {"insecure", "serverName", "certFile", "keyFile", "caFile", "certData", "keyData", "caData"}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_EXTENDED_RESOURCE = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)/[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)


class SchedulerConfigError(ValueError):
    """An invalid scheduler configuration; the message names the field and the rule."""


@dataclass(frozen=True)
class TLSConfig:
    """``extenders[].tlsConfig`` (``*Data`` fields are the base64 strings of the YAML)."""

    insecure: bool = False
    server_name: str = ""
    cert_file: str = ""
    key_file: str = ""
    ca_file: str = ""
    cert_data: str = ""
    key_data: str = ""
    ca_data: str = ""


@dataclass(frozen=True)
class ManagedResource:
    """``extenders[].managedResources[]``."""

    name: str
    ignored_by_scheduler: bool = False


@dataclass(frozen=True)
class ExtenderConfig:
    """One ``extenders[]`` entry."""

    url_prefix: str
    filter_verb: str = ""
    preempt_verb: str = ""
    prioritize_verb: str = ""
    bind_verb: str = ""
    weight: int = 0
    enable_https: bool = False
    tls: TLSConfig | None = None
    http_timeout: float = DEFAULT_EXTENDER_TIMEOUT
    node_cache_capable: bool = False
    managed_resources: tuple[ManagedResource, ...] = ()
    ignorable: bool = False


@dataclass(frozen=True)
class Profile:
    """One ``profiles[]`` entry."""

    scheduler_name: str
    percentage_of_nodes_to_score: int | None = None


@dataclass(frozen=True)
class SchedulerConfig:
    """The parsed configuration (defaults: one ``default-scheduler`` profile, no extenders)."""

    profiles: tuple[Profile, ...] = (Profile(DEFAULT_SCHEDULER),)
    extenders: tuple[ExtenderConfig, ...] = ()
    percentage_of_nodes_to_score: int | None = None
    pod_initial_backoff_seconds: float = 1.0
    pod_max_backoff_seconds: float = 10.0

    @property
    def scheduler_names(self) -> list[str]:
        """Every profile's ``schedulerName``."""
        return [p.scheduler_name for p in self.profiles]


def parse_duration(value: Any, field: str) -> float:
    """A Go ``time.Duration`` string (``5s``, ``1m30s``, ``500ms``) in seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value) * 1e-9
    if not isinstance(value, str) or not value:
        raise SchedulerConfigError(f"{field}: {value!r} is not a duration (e.g. 5s, 500ms, 1m30s)")
    text = value.strip()
    sign = -1.0 if text.startswith("-") else 1.0
    text = text.lstrip("+-")
    if text == "0":
        return 0.0
    pos = 0
    total = 0.0
    for m in _DURATION_PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text) or pos == 0:
        raise SchedulerConfigError(f"{field}: {value!r} is not a duration (e.g. 5s, 500ms, 1m30s)")
    return sign * total


def _check_fields(obj: Any, allowed: set[str], path: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise SchedulerConfigError(f"{path or 'configuration'}: must be an object")
    for k in obj:
        if k not in allowed:
            where = f"{path}." if path else ""
            raise SchedulerConfigError(f'strict decoding error: unknown field "{where}{k}"')
    return obj


def _bool(obj: dict[str, Any], key: str, path: str) -> bool:
    v = obj.get(key, False)
    if not isinstance(v, bool):
        raise SchedulerConfigError(f"{path}.{key}: must be a boolean, got {v!r}")
    return v


def _str(obj: dict[str, Any], key: str, path: str) -> str:
    v = obj.get(key, "")
    if not isinstance(v, str):
        raise SchedulerConfigError(f"{path}.{key}: must be a string, got {v!r}")
    return v


def _percentage(value: Any, path: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 100:
        raise SchedulerConfigError(f"{path}: Invalid value: {value!r}: not in valid range [0-100]")
    return value


def _extender(raw: Any, path: str) -> ExtenderConfig:
    e = _check_fields(raw, _EXTENDER_FIELDS, path)
    url = _str(e, "urlPrefix", path)
    if not url:
        raise SchedulerConfigError(f"{path}.urlPrefix: Required value")
    if not url.startswith(("http://", "https://")):
        raise SchedulerConfigError(f"{path}.urlPrefix: {url!r} must be an http:// or https:// URL")
    weight = e.get("weight", 0)
    if not isinstance(weight, int) or isinstance(weight, bool):
        raise SchedulerConfigError(f"{path}.weight: must be an integer, got {weight!r}")
    prioritize = _str(e, "prioritizeVerb", path)
    if prioritize and weight <= 0:
        raise SchedulerConfigError(
            f"{path}.weight: Invalid value: {weight}: must have a positive weight applied to it"
        )
    tls = None
    if e.get("tlsConfig") is not None:
        t = _check_fields(e["tlsConfig"], _TLS_FIELDS, f"{path}.tlsConfig")
        tls = TLSConfig(
            insecure=_bool(t, "insecure", f"{path}.tlsConfig"),
            server_name=_str(t, "serverName", f"{path}.tlsConfig"),
            cert_file=_str(t, "certFile", f"{path}.tlsConfig"),
            key_file=_str(t, "keyFile", f"{path}.tlsConfig"),
            ca_file=_str(t, "caFile", f"{path}.tlsConfig"),
            cert_data=_str(t, "certData", f"{path}.tlsConfig"),
            key_data=_str(t, "keyData", f"{path}.tlsConfig"),
            ca_data=_str(t, "caData", f"{path}.tlsConfig"),
        )
    timeout = DEFAULT_EXTENDER_TIMEOUT
    if e.get("httpTimeout") is not None:
        timeout = parse_duration(e["httpTimeout"], f"{path}.httpTimeout")
        if timeout < 0:
            raise SchedulerConfigError(f"{path}.httpTimeout: must not be negative")
        if timeout == 0:
            timeout = DEFAULT_EXTENDER_TIMEOUT
    managed: list[ManagedResource] = []
    raw_managed = e.get("managedResources") or []
    if not isinstance(raw_managed, list):
        raise SchedulerConfigError(f"{path}.managedResources: must be a list")
    for j, r in enumerate(raw_managed):
        rpath = f"{path}.managedResources[{j}]"
        r = _check_fields(r, {"name", "ignoredByScheduler"}, rpath)
        name = _str(r, "name", rpath)
        if not _EXTENDED_RESOURCE.match(name) or name.startswith(("kubernetes.io/", "requests.")):
            raise SchedulerConfigError(
                f"{rpath}.name: Invalid value: {name!r}: must be an extended resource name "
                f"(a domain-prefixed name outside kubernetes.io, e.g. nvidia.com/gpu)"
            )
        if any(m.name == name for m in managed):
            raise SchedulerConfigError(
                f"{rpath}.name: Invalid value: {name!r}: duplicate extender managed resource name"
            )
        managed.append(ManagedResource(name, _bool(r, "ignoredByScheduler", rpath)))
    return ExtenderConfig(
        url_prefix=url,
        filter_verb=_str(e, "filterVerb", path),
        preempt_verb=_str(e, "preemptVerb", path),
        prioritize_verb=prioritize,
        bind_verb=_str(e, "bindVerb", path),
        weight=weight,
        enable_https=_bool(e, "enableHTTPS", path),
        tls=tls,
        http_timeout=timeout,
        node_cache_capable=_bool(e, "nodeCacheCapable", path),
        managed_resources=tuple(managed),
        ignorable=_bool(e, "ignorable", path),
    )


def _backoff(doc: dict[str, Any], key: str, default: float) -> float:
    v = doc.get(key)
    if v is None:
        return default
    if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
        raise SchedulerConfigError(f"{key}: Invalid value: {v!r}: must be greater than 0")
    return float(v)


def parse_scheduler_config(doc: Any) -> SchedulerConfig:
    """Validate a decoded ``KubeSchedulerConfiguration`` document."""
    doc = _check_fields(doc, _TOP_FIELDS, "")
    if doc.get("apiVersion") != API_VERSION:
        raise SchedulerConfigError(
            f"apiVersion: {doc.get('apiVersion')!r} is not supported; use {API_VERSION} "
            f"(as kube-scheduler 1.29+ does)"
        )
    if doc.get("kind") != KIND:
        raise SchedulerConfigError(f"kind: must be {KIND}, got {doc.get('kind')!r}")
    profiles: list[Profile] = []
    raw_profiles = doc.get("profiles")
    if raw_profiles is None or raw_profiles == []:
        raw_profiles = [{"schedulerName": DEFAULT_SCHEDULER}]
    if not isinstance(raw_profiles, list):
        raise SchedulerConfigError("profiles: must be a list")
    for i, raw in enumerate(raw_profiles):
        path = f"profiles[{i}]"
        p = _check_fields(raw, _PROFILE_FIELDS, path)
        name = p.get("schedulerName", DEFAULT_SCHEDULER)
        if not isinstance(name, str) or not name:
            raise SchedulerConfigError(f"{path}.schedulerName: Required value")
        if any(existing.scheduler_name == name for existing in profiles):
            raise SchedulerConfigError(f'{path}.schedulerName: Duplicate value: "{name}"')
        pct = _percentage(p.get("percentageOfNodesToScore"), f"{path}.percentageOfNodesToScore")
        profiles.append(Profile(name, pct))
    raw_extenders = doc.get("extenders") or []
    if not isinstance(raw_extenders, list):
        raise SchedulerConfigError("extenders: must be a list")
    extenders = [_extender(e, f"extenders[{i}]") for i, e in enumerate(raw_extenders)]
    binders = sum(1 for e in extenders if e.bind_verb)
    if binders > 1:
        raise SchedulerConfigError(
            f'extenders: Invalid value: "found {binders} extenders implementing bind": '
            f"only one extender can implement bind"
        )
    initial = _backoff(doc, "podInitialBackoffSeconds", 1.0)
    maximum = _backoff(doc, "podMaxBackoffSeconds", 10.0)
    if maximum < initial:
        raise SchedulerConfigError(
            "podMaxBackoffSeconds: Invalid value: must be greater than or equal to PodInitialBackoffSeconds"
        )
    return SchedulerConfig(
        profiles=tuple(profiles),
        extenders=tuple(extenders),
        percentage_of_nodes_to_score=_percentage(
            doc.get("percentageOfNodesToScore"), "percentageOfNodesToScore"
        ),
        pod_initial_backoff_seconds=initial,
        pod_max_backoff_seconds=maximum,
    )


def load_scheduler_config(path: str | Path) -> SchedulerConfig:
    """Read and validate a configuration file (YAML or JSON); errors name the file."""
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise SchedulerConfigError(
            f"{path}: cannot read the scheduler configuration: {e.strerror or e}"
        ) from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise SchedulerConfigError(f"{path}: not valid YAML: {e}") from None
    try:
        return parse_scheduler_config(doc)
    except SchedulerConfigError as e:
        raise SchedulerConfigError(f"{path}: {e}") from None
