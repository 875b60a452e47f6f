"""Pipeline configuration: one YAML file (crmsync.yaml) and the secrets it references.

The file declares the state database, the endpoints (connector, object, mapping file,
options) and the pipelines (endpoints, field ownership, conflict policy, delete policy,
schedule). It is read with ``yaml.safe_load`` only. Secrets are never written in the file:
an option whose name looks secret (password, secret, token, key) must be ``${ENV_VAR}`` or
``keyring:SERVICE/NAME``; a plain value is refused. Every error names the file, the key path
and what was expected. :data:`STARTER_CONFIG` is what ``crmsync init`` writes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from crmsync.errors import ConfigError, SecretError

DEFAULT_STATE_URL = "sqlite:///crmsync.db"
DEFAULT_MAPPINGS_DIR = Path(__file__).resolve().parent.parent / "mappings"
SECRET_KEY = re.compile(r"(pass(word|wd|phrase)|secret(_?key)?|token|access_?key|api_?key|private_?key|credentials?)$",
                        re.IGNORECASE)
ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
DELETE_POLICIES = ("ignore", "archive", "block", "propagate")
BUILTIN_POLICY_NAMES = ("prefer", "latest", "manual")
RETRY_KEYS = ("max_attempts", "initial_wait", "max_wait", "max_total", "max_run_total", "connect_timeout",
              "read_timeout")


@dataclass
class EndpointConfig:
    """One endpoint: a connector on one object, with its mapping file and options."""

    name: str
    connector: str
    object: str
    mapping: Path
    options: dict[str, Any] = field(default_factory=dict, repr=False)
    """Connector options with secrets resolved: never log or store this."""
    retry: dict[str, float] = field(default_factory=dict)
    delete_policy: str = "ignore"
    overlap_seconds: float = 0.0
    """Re-read this much before the cursor each run (records that commit late at the source)."""
    circuit_breaker: int = 3
    """Failed write batches in a row after which a run stops writing to the endpoint."""


@dataclass
class ConflictConfig:
    """How fields changed on two sides are decided."""

    policy: str = "prefer"
    prefer: list[str] = field(default_factory=list)
    """Endpoint priority for ``prefer`` (and tie-break for ``latest``)."""
    fields: dict[str, str] = field(default_factory=dict)
    """Per-field policy overriding ``policy``."""


@dataclass
class PipelineConfig:
    """A named set of endpoints synced around the canonical store."""

    name: str
    endpoints: list[str]
    ownership: dict[str, str] = field(default_factory=dict)
    """Canonical field -> the endpoint that owns it."""
    enforce_ownership: bool = False
    """Write the owner's value back over a non-owner's edit."""
    conflicts: ConflictConfig = field(default_factory=ConflictConfig)
    mass_delete_threshold: float = 0.10
    schedule: str | None = None


@dataclass
class Config:
    """A loaded crmsync.yaml."""

    path: Path
    state_url: str = field(repr=False)
    """May hold the database password (from ${ENV}): never print it; see store.redact_url."""
    endpoints: dict[str, EndpointConfig]
    pipelines: dict[str, PipelineConfig]

    def pipeline(self, name: str) -> PipelineConfig:
        try:
            return self.pipelines[name]
        except KeyError:
            known = ", ".join(sorted(self.pipelines)) or "none"
            raise ConfigError(f"no pipeline {name!r}; pipelines: {known}", file=str(self.path)) from None


class _Reader:
    """Walks the parsed YAML with the file name and key path at hand for error messages."""

    def __init__(self, file: Path) -> None:
        self.file = str(file)

    def fail(self, path: str, message: str) -> ConfigError:
        return ConfigError(message, file=self.file, path=path)

    def mapping(self, value: Any, path: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(path, f"expected a mapping of keys to values, got {type(value).__name__}")
        return value

    def string(self, value: Any, path: str, *, choices: tuple[str, ...] = ()) -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.fail(path, f"expected a non-empty string, got {value!r}")
        if choices and value not in choices:
            raise self.fail(path, f"expected one of {', '.join(choices)}, got {value!r}")
        return value

    def string_list(self, value: Any, path: str) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(path, f"expected a list of names, got {value!r}")
        return list(value)

    def only_keys(self, data: Mapping[str, Any], path: str, allowed: tuple[str, ...]) -> None:
        for key in data:
            if key not in allowed:
                raise self.fail(f"{path}.{key}" if path else str(key),
                                f"unknown key; allowed keys: {', '.join(allowed)}")


def _resolve_secret(value: str, path: str, reader: _Reader, *, secret: bool) -> str:
    if value.startswith("keyring:"):
        service, _, user = value.removeprefix("keyring:").partition("/")
        try:
            import keyring
        except ImportError:
            raise SecretError("keyring references need the 'keyring' package (pip install crmsync[keyring])",
                              file=reader.file, path=path) from None
        found: str | None = keyring.get_password(service, user)
        if found is None:
            raise SecretError(f"no keyring entry for service {service!r}, user {user!r}",
                              file=reader.file, path=path)
        return found

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise SecretError(f"environment variable {name} is not set", file=reader.file, path=path)
        return os.environ[name]

    if secret and not ENV_REF.fullmatch(value.strip()):
        raise SecretError(
            "secrets must not be written in the file; use ${ENV_VAR} or keyring:SERVICE/NAME",
            file=reader.file, path=path,
        )
    return ENV_REF.sub(substitute, value)


def _resolve_options(data: Any, path: str, reader: _Reader, base: Path) -> Any:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            sub = f"{path}.{key}"
            if isinstance(value, str):
                value = _resolve_secret(value, sub, reader, secret=bool(SECRET_KEY.search(str(key))))
                if str(key).endswith(("path", "file", "wsdl", "_cert", "_key", "ca_bundle")) \
                        and not value.startswith(("http:", "https:")) and not SECRET_KEY.search(str(key)):
                    value = str(_safe_path(value, base, sub, reader))
                out[key] = value
            else:
                if SECRET_KEY.search(str(key)) and value is not None and not isinstance(value, dict):
                    raise SecretError("secrets must be ${ENV_VAR} references", file=reader.file, path=sub)
                out[key] = _resolve_options(value, sub, reader, base)
        return out
    if isinstance(data, list):
        return [_resolve_options(v, f"{path}[{i}]", reader, base) for i, v in enumerate(data)]
    if isinstance(data, str):
        return _resolve_secret(data, path, reader, secret=False)
    return data


def _safe_path(value: str, base: Path, path: str, reader: _Reader) -> Path:
    """A relative path must stay inside the config's folder (no ../../etc/passwd)."""
    candidate = Path(value)
    if candidate.is_absolute():
        return candidate
    resolved = (base / candidate).resolve()
    if not resolved.is_relative_to(base.resolve()):
        raise reader.fail(path, f"path {value!r} leaves the configuration folder; use an absolute path "
                                "if the file really lives elsewhere")
    return resolved


def _mapping_path(value: str, base: Path, path: str, reader: _Reader) -> Path:
    local = _safe_path(value, base, path, reader)
    if local.exists():
        return local
    bundled = DEFAULT_MAPPINGS_DIR / value
    if not Path(value).is_absolute() and bundled.exists() and ".." not in Path(value).parts:
        return bundled
    raise reader.fail(path, f"mapping file {value!r} not found (looked in {base} and {DEFAULT_MAPPINGS_DIR})")


def _non_negative(value: Any, path: str, reader: _Reader) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        raise reader.fail(path, f"expected a number of seconds >= 0, got {value!r}")
    return float(value)


def _positive_int(value: Any, path: str, reader: _Reader) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise reader.fail(path, f"expected a whole number >= 1, got {value!r}")
    return value


def parse_config(data: Any, file: Path) -> Config:
    """Validate parsed YAML into a :class:`Config` (secrets resolved)."""
    reader = _Reader(file)
    base = file.parent
    top = reader.mapping(data, "(top level)")
    reader.only_keys(top, "", ("state", "endpoints", "pipelines"))
    state = reader.mapping(top.get("state"), "state")
    reader.only_keys(state, "state", ("url",))
    raw_url = reader.string(state.get("url", DEFAULT_STATE_URL), "state.url")
    if re.match(r"^[\w+]+://[^/@]*:[^/@]+@", raw_url) and not ENV_REF.search(raw_url):
        raise SecretError("the database password must not be written in the file; put the whole URL in an "
                          "environment variable (url: ${CRMSYNC_DB_URL}) or the password (${DB_PASSWORD})",
                          file=reader.file, path="state.url")
    state_url = _resolve_secret(raw_url, "state.url", reader, secret=False)
    endpoints: dict[str, EndpointConfig] = {}
    raw_endpoints = reader.mapping(top.get("endpoints"), "endpoints")
    if not raw_endpoints:
        raise reader.fail("endpoints", "at least one endpoint is needed")
    for name, raw in raw_endpoints.items():
        path = f"endpoints.{name}"
        item = reader.mapping(raw, path)
        reader.only_keys(item, path, ("connector", "object", "mapping", "options", "retry", "deletes",
                                      "overlap_seconds", "circuit_breaker"))
        for required in ("connector", "object", "mapping"):
            if required not in item:
                raise reader.fail(f"{path}.{required}", "missing; every endpoint needs connector, object, mapping")
        retry = reader.mapping(item.get("retry"), f"{path}.retry")
        reader.only_keys(retry, f"{path}.retry", RETRY_KEYS)
        for key, value in retry.items():
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise reader.fail(f"{path}.retry.{key}", f"expected a positive number, got {value!r}")
        endpoints[str(name)] = EndpointConfig(
            name=str(name),
            connector=reader.string(item["connector"], f"{path}.connector"),
            object=reader.string(item["object"], f"{path}.object"),
            mapping=_mapping_path(reader.string(item["mapping"], f"{path}.mapping"), base, f"{path}.mapping",
                                  reader),
            options=_resolve_options(reader.mapping(item.get("options"), f"{path}.options"), f"{path}.options",
                                     reader, base),
            retry={k: float(v) for k, v in retry.items()},
            delete_policy=reader.string(item.get("deletes", "ignore"), f"{path}.deletes", choices=DELETE_POLICIES),
            overlap_seconds=_non_negative(item.get("overlap_seconds", 0), f"{path}.overlap_seconds", reader),
            circuit_breaker=_positive_int(item.get("circuit_breaker", 3), f"{path}.circuit_breaker", reader),
        )
    pipelines: dict[str, PipelineConfig] = {}
    for name, raw in reader.mapping(top.get("pipelines"), "pipelines").items():
        path = f"pipelines.{name}"
        item = reader.mapping(raw, path)
        reader.only_keys(item, path, ("endpoints", "ownership", "enforce_ownership", "conflicts",
                                      "mass_delete_threshold", "schedule"))
        members = reader.string_list(item.get("endpoints"), f"{path}.endpoints")
        if len(members) < 2:
            raise reader.fail(f"{path}.endpoints", "a pipeline syncs at least two endpoints")
        for member in members:
            if member not in endpoints:
                raise reader.fail(f"{path}.endpoints", f"unknown endpoint {member!r}; declared: "
                                  f"{', '.join(endpoints)}")
        ownership = reader.mapping(item.get("ownership"), f"{path}.ownership")
        from crmsync.canonical import CANONICAL_FIELDS

        for fld, owner in ownership.items():
            if fld not in CANONICAL_FIELDS:
                raise reader.fail(f"{path}.ownership.{fld}", "not a canonical field (see docs/mappings.md)")
            if owner not in members:
                raise reader.fail(f"{path}.ownership.{fld}", f"owner {owner!r} is not an endpoint of the pipeline")
        conflicts = reader.mapping(item.get("conflicts"), f"{path}.conflicts")
        reader.only_keys(conflicts, f"{path}.conflicts", ("policy", "prefer", "fields"))
        prefer = reader.string_list(conflicts.get("prefer", members), f"{path}.conflicts.prefer")
        for member in prefer:
            if member not in members:
                raise reader.fail(f"{path}.conflicts.prefer", f"{member!r} is not an endpoint of the pipeline")
        field_policies = {str(k): reader.string(v, f"{path}.conflicts.fields.{k}")
                          for k, v in reader.mapping(conflicts.get("fields"), f"{path}.conflicts.fields").items()}
        threshold = item.get("mass_delete_threshold", 0.10)
        if not isinstance(threshold, int | float) or isinstance(threshold, bool) or not 0 <= threshold <= 1:
            raise reader.fail(f"{path}.mass_delete_threshold", f"expected a share between 0 and 1, got {threshold!r}")
        enforce = item.get("enforce_ownership", False)
        if not isinstance(enforce, bool):
            raise reader.fail(f"{path}.enforce_ownership", f"expected true or false, got {enforce!r}")
        pipelines[str(name)] = PipelineConfig(
            name=str(name),
            endpoints=members,
            ownership={str(k): str(v) for k, v in ownership.items()},
            enforce_ownership=enforce,
            conflicts=ConflictConfig(
                policy=reader.string(conflicts.get("policy", "prefer"), f"{path}.conflicts.policy"),
                prefer=prefer,
                fields=field_policies,
            ),
            mass_delete_threshold=float(threshold),
            schedule=item.get("schedule"),
        )
    return Config(path=file, state_url=state_url, endpoints=endpoints, pipelines=pipelines)


def load_config(path: str | Path) -> Config:
    """Read and validate a crmsync.yaml."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("configuration file not found; create one with `crmsync init`", file=str(file)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc}", file=str(file)) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", file=str(file)) from None
    return parse_config(data, file.resolve())


STARTER_CONFIG = """\
# crmsync configuration. Secrets are never written here: use ${ENV_VAR} or keyring:SERVICE/NAME.
state:
  # sqlite:///crmsync.db (default), postgresql+psycopg://user@host/db, mysql+pymysql://user@host/db
  url: sqlite:///crmsync.db

endpoints:
  salesforce:
    connector: salesforce            # `crmsync plugins` lists the installed connectors
    object: Account
    mapping: salesforce_account.yaml  # relative to this file, or one of crmsync's default mappings
    deletes: archive                  # ignore | archive | block | propagate
    options:
      instance_url: https://example.my.salesforce.com
      auth: client_credentials
      client_id: ${SF_CLIENT_ID}
      client_secret: ${SF_CLIENT_SECRET}
      external_id_field: Crmsync_Id__c
  sap:
    connector: sap-odata
    object: A_BusinessPartner
    mapping: sap_business_partner.yaml
    deletes: block
    options:
      service_url: https://my-s4.example.com/sap/opu/odata/sap/API_BUSINESS_PARTNER/
      username: ${SAP_USER}
      password: ${SAP_PASSWORD}
    retry: {max_attempts: 5, max_total: 120}

pipelines:
  customers:
    endpoints: [sap, salesforce]
    ownership:                       # the owner's value wins; other sides' edits are reported
      credit_limit: sap
      receivables: sap
      blocked: sap
      owner: salesforce
      lifecycle_stage: salesforce
    conflicts:
      policy: prefer                 # prefer | latest | manual | a plugin's policy
      prefer: [sap, salesforce]
    mass_delete_threshold: 0.10
    schedule: "*/15 * * * *"         # for your scheduler; crmsync does not run a daemon
"""

__all__ = [
    "DEFAULT_STATE_URL",
    "STARTER_CONFIG",
    "Config",
    "ConflictConfig",
    "EndpointConfig",
    "PipelineConfig",
    "load_config",
    "parse_config",
]
