"""Pipeline deployments on Kubernetes from the command line, and promotion of a candidate to a cluster.

``phoenix pipeline deploy|status|get-active-config|list-deployments|history|rollback|delete`` are added to
the existing ``pipeline`` group by :func:`pipeline_deploy_commands`; ``phoenix experiment promote NAME
--backend kubernetes`` calls :func:`promote_to_kubernetes` (options from :func:`kube_promote_options`).
Wiring, in ``cli.py``::

    from phoenix_harness.cli.kube import kube_promote_options, pipeline_deploy_commands, promote_to_kubernetes

    pipeline_deploy_commands(pipeline)          # once, after the `pipeline` group is defined

    @experiment.command("promote")
    ...
    @kube_promote_options                       # adds --target --deployment --namespace --context --image
    def experiment_promote(ctx, name, backend, **kube):
        ...
        if backend == "kubernetes":
            status = promote_to_kubernetes(project_root(ctx), name, entry["candidate"], **kube)
            click.echo(status.summary())
            return

Every command reads the cluster from KUBECONFIG (``--context`` picks a context) and works in one
namespace: ``--namespace``, else ``PHOENIX_KUBE_NAMESPACE``, else the context's namespace, else
``phoenix-harness``. Mistakes print one line ``error[E4xx] where: what (fix: how)`` and exit 2.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import click
import yaml

from phoenix_harness.backends.kubernetes import labels as L
from phoenix_harness.backends.kubernetes import manifests as M
from phoenix_harness.backends.kubernetes.client import Kube
from phoenix_harness.backends.kubernetes.deployments import Deployments, DeploymentStatus
from phoenix_harness.backends.kubernetes.render import check_image, pod_wiring, render_for_pod
from phoenix_harness.catalog import Catalog
from phoenix_harness.cli.common import emit_rows, parse_sets, shared_option, user_errors
from phoenix_harness.core.errors import PhoenixError
from phoenix_harness.core.options import find_root, option
from phoenix_harness.core.secrets import mask_config
from phoenix_harness.spec import parse_duration

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_REMOTE_WRITE = "http://prometheus:9090/api/v1/write"


def _cluster_options(fn: F) -> F:
    fn = shared_option("kube-context", "--context", "context")(fn)
    fn = shared_option("namespace", "-n", "--namespace")(fn)
    return fn


_OUTPUT = click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]), default="table",
                       show_default=True, help="output format")


def connect(namespace: str | None, context: str | None) -> Kube:
    """The cluster of ``context`` and the namespace rule above."""
    return Kube(context=context, namespace=namespace)


def _deployments(namespace: str | None, context: str | None) -> Deployments:
    return Deployments(connect(namespace, context), say=lambda m: click.echo(m, err=True))


def _validate_locally(root: Path, config: Mapping[str, Any], pipeline: str, say: Callable[[str], None]) -> None:
    """Run the real ``otelcol validate`` on the rendered config when a collector is at hand (never builds one)."""
    from phoenix_harness.toolchain import locate_collector, validate_config

    try:
        collector = locate_collector(Catalog(root / "otel-configs").manifest, build=False)
    except PhoenixError:
        say("note: no local collector found, the config was not validated before deploying "
            "(run 'phoenix toolchain build' to validate first)")
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix="phoenix-deploy-") as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_text(yaml.safe_dump(dict(config), sort_keys=False, width=120))
        message = validate_config(collector, path)
    if message:
        raise PhoenixError("E442", f"the collector rejects pipeline '{pipeline}': {message}",
                           where=str(Catalog(root / "otel-configs").get(pipeline).config_path), detail=message.detail,
                           fix=f"fix the config (phoenix pipeline validate {pipeline}); nothing was deployed")


def deploy_pipeline(root: Path, pipeline: str, *, deployment: str | None, target: str, namespace: str | None,
                    context: str | None, image: str | None = None, parameters: Mapping[str, Any] | None = None,
                    remote_write: str | None = None, interval_s: float = 10.0, wait: bool = True,
                    timeout_s: float = 180.0, validate: bool = True, source: str = "",
                    say: Callable[[str], None] | None = None) -> DeploymentStatus:
    """Render a catalog pipeline for pods and deploy it as a new version of ``deployment`` (default: its name)."""
    say = say or (lambda m: click.echo(m, err=True))
    name = L.check_name(deployment or pipeline)
    selector = L.parse_selector(target)
    image = image or os.environ.get("PHOENIX_KUBE_IMAGE") or M.DEFAULT_COLLECTOR_IMAGE
    entry = Catalog(root / "otel-configs").get(pipeline)
    wiring = pod_wiring(name, remote_write_endpoint=remote_write or os.environ.get("PHOENIX_KUBE_REMOTE_WRITE")
                        or DEFAULT_REMOTE_WRITE, collection_interval_s=interval_s)
    pod = render_for_pod(entry, wiring, parameters or {})
    check_image(pod.rendered.config, image, pipeline=pipeline)
    if validate:
        _validate_locally(root, pod.rendered.config, pipeline, say)
    kube = connect(namespace, context)
    kube.ensure_namespace(create=True)
    return Deployments(kube, say=say).deploy(
        name, pipeline=pipeline, config=pod.rendered.config, node_selector=selector, image=image,
        health_port=pod.rendered.health_port, extra_ports=pod.extra_ports, parameters=dict(pod.rendered.parameters),
        source=source, wait=wait, timeout_s=timeout_s)


def promote_to_kubernetes(root: Path, experiment: str, candidate: str, *, target: str | None,
                          deployment: str | None = None, namespace: str | None = None, context: str | None = None,
                          image: str | None = None, parameters: Mapping[str, Any] | None = None,
                          say: Callable[[str], None] | None = None) -> DeploymentStatus:
    """Deploy a promoted experiment's candidate exactly as ``phoenix pipeline deploy`` would.

    ``deployment`` names the deployment to roll forward (its previous version stays for rollback); by
    default the deployment is named after the candidate pipeline.
    """
    if not target:
        raise PhoenixError("E455", "promotion to Kubernetes needs the nodes to run on",
                           where="phoenix experiment promote", fix="pass --target KEY=VALUE, e.g. --target role=edge")
    return deploy_pipeline(root, candidate, deployment=deployment, target=target, namespace=namespace,
                           context=context, image=image, parameters=parameters,
                           source=f"promoted from experiment {experiment}", say=say)


def kube_promote_options(fn: F) -> F:
    """The options ``experiment promote`` needs for ``--backend kubernetes`` (passed on as keyword arguments)."""
    fn = click.option("--image", default=None, help="collector image (kubernetes; default PHOENIX_KUBE_IMAGE or "
                      f"{M.DEFAULT_COLLECTOR_IMAGE})")(fn)
    fn = click.option("--deployment", default=None, help="deployment to roll forward (kubernetes; default: the "
                      "candidate pipeline's name)")(fn)
    fn = click.option("--target", default=None, metavar="SELECTOR",
                      help="node selector, e.g. role=edge (required with --backend kubernetes)")(fn)
    return _cluster_options(fn)


def _env_root() -> Path:
    env = option("root").initial()
    return Path(str(env)) if env else find_root()


def _ctx_root(ctx: click.Context) -> Path:
    obj = ctx.find_root().obj
    if isinstance(obj, dict) and obj.get("root"):
        return Path(str(obj["root"]))
    return _env_root()


def _print_status(st: DeploymentStatus, output: str) -> None:
    if output != "table":
        emit_rows([st.as_dict()], output, [])
        return
    click.echo(f"deployment:  {st.name} (namespace {st.namespace})")
    click.echo(f"pipeline:    {st.pipeline}  version v{st.version}  (kept: "
               f"{', '.join(f'v{v}' for v in st.versions)})")
    click.echo(f"target:      {st.target}  image {st.image}")
    click.echo(f"pods:        {st.ready}/{st.desired} ready, {st.updated} updated  ->  {st.state}")
    if st.nodes:
        click.echo(f"nodes:       {', '.join(st.nodes)}")
    for p in st.problems:
        click.echo(f"problem:     {p.describe()}")
        click.echo(f"  fix:       {p.fix}")


def pipeline_deploy_commands(group: click.Group) -> click.Group:
    """Add the deployment commands to ``group`` (the CLI's ``pipeline`` group) and return it."""

    @group.command("deploy")
    @click.argument("pipeline")
    @click.option("--target", required=True, metavar="SELECTOR", help="node selector, e.g. role=edge or "
                  "role=edge,zone=a")
    @click.option("--as", "deployment", default=None, metavar="NAME",
                  help="deployment name (default: the pipeline's); a new deploy to the same name is a new version")
    @click.option("--set", "overrides", multiple=True, metavar="PARAM=VALUE", help="override a parameter")
    @click.option("--image", default=None, help=f"collector image (default PHOENIX_KUBE_IMAGE or "
                  f"{M.DEFAULT_COLLECTOR_IMAGE})")
    @click.option("--remote-write", default=None, metavar="URL",
                  help=f"where the collectors send metrics (default PHOENIX_KUBE_REMOTE_WRITE or "
                  f"{DEFAULT_REMOTE_WRITE})")
    @click.option("--interval", default="10s", show_default=True, help="host metrics collection interval")
    @click.option("--timeout", default="180s", show_default=True, help="how long to wait for the rollout")
    @click.option("--wait/--no-wait", default=True, show_default=True, help="wait until every pod is ready")
    @click.option("--no-validate", is_flag=True, help="skip the local 'otelcol validate' of the rendered config")
    @_cluster_options
    @click.pass_context
    @user_errors
    def deploy(ctx: click.Context, pipeline: str, target: str, deployment: str | None, overrides: tuple[str, ...],
               image: str | None, remote_write: str | None, interval: str, timeout: str, wait: bool,
               no_validate: bool, namespace: str | None, context: str | None) -> None:
        """Deploy catalog PIPELINE as a collector DaemonSet on the nodes TARGET selects.

        Each deploy is a new version kept on the cluster (ConfigMap NAME-vN); a failed rollout is
        reported with the pod's reason and what to do, and 'rollback' returns to the previous version.
        """
        st = deploy_pipeline(_ctx_root(ctx), pipeline, deployment=deployment, target=target, namespace=namespace,
                             context=context, image=image, parameters=parse_sets(overrides),
                             remote_write=remote_write, interval_s=parse_duration(interval, where="--interval"),
                             wait=wait, timeout_s=parse_duration(timeout, where="--timeout"),
                             validate=not no_validate)
        click.echo(st.summary())

    @group.command("status")
    @click.argument("name")
    @_OUTPUT
    @_cluster_options
    @user_errors
    def status(name: str, output: str, namespace: str | None, context: str | None) -> None:
        """A deployment's version, pods and, when they are not running, why and what to do.

        Exit 0 when every pod of the active version is ready, 1 otherwise.
        """
        st = _deployments(namespace, context).status(name)
        _print_status(st, output)
        if st.state not in ("ready",):
            sys.exit(1)

    @group.command("get-active-config")
    @click.argument("name")
    @_cluster_options
    @user_errors
    def get_active_config(name: str, namespace: str | None, context: str | None) -> None:
        """The collector config deployment NAME runs now (secrets masked)."""
        text = _deployments(namespace, context).get_active_config(name)
        data = yaml.safe_load(text)
        click.echo(yaml.safe_dump(mask_config(data), sort_keys=False, width=120) if isinstance(data, dict) else text,
                   nl=False)

    @group.command("list-deployments")
    @_OUTPUT
    @click.option("-A", "--all-namespaces", is_flag=True, help="every namespace (needs cluster-wide list)")
    @_cluster_options
    @user_errors
    def list_deployments(output: str, all_namespaces: bool, namespace: str | None, context: str | None) -> None:
        """Pipeline deployments in the namespace."""
        rows = [s.as_dict() for s in _deployments(namespace, context).list_deployments(all_namespaces=all_namespaces)]
        if output == "table":
            rows = [{**r, "version": f"v{r['version']}", "ready": f"{r['ready']}/{r['desired']}",
                     "problem": r["problems"][0]["reason"] if r["problems"] else ""} for r in rows]
        emit_rows(rows, output, ["name", "namespace", "pipeline", "version", "target", "ready", "state", "problem"])

    @group.command("history")
    @click.argument("name")
    @_OUTPUT
    @_cluster_options
    @user_errors
    def history(name: str, output: str, namespace: str | None, context: str | None) -> None:
        """The versions of deployment NAME kept on the cluster (the active one marked)."""
        rows = [r.as_dict() for r in _deployments(namespace, context).history(name)]
        if output == "table":
            rows = [{**r, "version": f"v{r['version']}", "active": "*" if r["active"] else ""} for r in rows]
        emit_rows(rows, output, ["version", "active", "pipeline", "target", "image", "deployed_at", "source"])

    @group.command("rollback")
    @click.argument("name")
    @click.option("--to-version", type=int, default=None, help="version to return to (default: the previous)")
    @click.option("--timeout", default="180s", show_default=True, help="how long to wait for the rollout")
    @click.option("--wait/--no-wait", default=True, show_default=True, help="wait until every pod is ready")
    @_cluster_options
    @user_errors
    def rollback(name: str, to_version: int | None, timeout: str, wait: bool, namespace: str | None,
                 context: str | None) -> None:
        """Return deployment NAME to its previous version (or --to-version N)."""
        st = _deployments(namespace, context).rollback(name, to_version=to_version, wait=wait,
                                                       timeout_s=parse_duration(timeout, where="--timeout"))
        click.echo(st.summary())

    @group.command("delete")
    @click.argument("name")
    @click.option("--wait/--no-wait", default=True, show_default=True, help="wait until its pods are gone")
    @_cluster_options
    @user_errors
    def delete(name: str, wait: bool, namespace: str | None, context: str | None) -> None:
        """Delete deployment NAME: its DaemonSet, Service, ServiceAccount, RBAC and every kept version."""
        deleted = _deployments(namespace, context).delete(name, wait=wait)
        click.echo(f"deleted {name}: {', '.join(deleted)}")

    return group


@click.group("pipeline")
def pipeline_group() -> None:
    """Pipeline deployments on Kubernetes (standalone group, for tests and for use without cli.py)."""


pipeline_deploy_commands(pipeline_group)
