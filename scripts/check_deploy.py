#!/usr/bin/env python3
"""Checks the deployment files in deploy/ without building an image or running a cluster.

Nothing in deploy/ can be run in CI, so this reads every YAML document there and the Containerfile
and checks the fields that would break a deployment silently: the serving port agrees everywhere
(container, Service, InferencePool, probes, routers' worker URLs, EXPOSE), the probes hit /health,
the kubelet waits out Tandem's shutdown grace, the endpoint picker reads metrics that Tandem really
exports (grepped from Sources/Server), the routers are pinned, and every `tandem serve` flag used
exists in Sources/TandemCLI. Prints one line per check, then `N passed, M failed`; exits 1 on a failure.

    .venv/bin/python scripts/check_deploy.py
"""

import json
import re
import shlex
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
ROUTER_PINS = {"sglang-router": "0.3.2", "vllm-router": "0.1.17"}
# What each router's power_of_two policy reads from GET /get_load (Tandem's --get-load-format).
ROUTER_LOAD_FORMAT = {"sglang-router": "sglang", "vllm-router": "object"}
EPP_METRIC_FLAGS = [
    "--total-queued-requests-metric",
    "--total-running-requests-metric",
    "--kv-cache-usage-percentage-metric",
    "--lora-info-metric",
    "--cache-info-metric",
]
DEFAULT_SHUTDOWN_GRACE = 30.0

results = []


def check(name, ok, why=""):
    results.append(bool(ok))
    print(f"ok   {name}" if ok else f"FAIL {name}: {why}")


def option(argv, flag, default=None):
    """The value of `flag` in argv, given as `--flag value` or `--flag=value`."""
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith(flag + "="):
            return arg[len(flag) + 1 :]
    return default


def seconds(value):
    """Compose durations ("35s", "1m30s") or plain numbers, in seconds."""
    if isinstance(value, (int, float)):
        return float(value)
    total = 0.0
    for number, unit in re.findall(r"([\d.]+)(h|m|s|ms|us)?", str(value)):
        total += float(number) * {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6, "": 1}[unit or ""]
    return total


def cpus(value):
    """Kubernetes CPU quantities ("4", "500m") and Compose `cpus`, in cores."""
    text = str(value)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def read_containerfile(path):
    """Instructions of a Containerfile as (INSTRUCTION, rest) with continuation lines joined."""
    text = re.sub(r"\\\n", " ", path.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [tuple((line.split(None, 1) + [""])[:2]) for line in lines if line and not line.startswith("#")]


def exec_form(rest):
    return json.loads(rest) if rest.startswith("[") else shlex.split(rest)


def is_tandem_image(image):
    """deploy/Containerfile's image, under whatever registry and tag: `tandem`, `.../tandem:TAG`."""
    return str(image).rsplit("/", 1)[-1].split(":")[0] == "tandem"


# --- What Tandem's source says -------------------------------------------------------------------

server_source = "\n".join(p.read_text() for p in sorted((ROOT / "Sources/Server").glob("*.swift")))
cli_source = "\n".join(p.read_text() for p in sorted((ROOT / "Sources/TandemCLI").glob("*.swift")))


def exported(metric):
    """A metric name is exported when Sources/Server names it as a string literal."""
    return f'"{metric}"' in server_source


def serve_flag_exists(flag):
    """ArgumentParser names `--foo-bar` after `var fooBar`, unless a customLong gives the name."""
    name = flag[2:]
    camel = re.sub(r"-(\w)", lambda m: m.group(1).upper(), name)
    return re.search(rf"\bvar {camel}\b", cli_source) or f'customLong("{name}")' in cli_source


# --- The files -----------------------------------------------------------------------------------

containerfile = read_containerfile(DEPLOY / "Containerfile")
documents = []  # (file, document)
for path in sorted(DEPLOY.rglob("*.y*ml")):
    for document in yaml.safe_load_all(path.read_text()):
        if document:
            documents.append((path.relative_to(ROOT), document))


def of_kind(kind):
    return [(f, d) for f, d in documents if d.get("kind") == kind]


serve_flags_used = set()


def note_serve_flags(argv):
    serve_flags_used.update(a.split("=")[0] for a in argv[2:] if a.startswith("--"))


# --- Containerfile -------------------------------------------------------------------------------

entrypoint = next((exec_form(rest) for ins, rest in containerfile if ins == "ENTRYPOINT"), [])
exposed = [int(p.split("/")[0]) for ins, rest in containerfile if ins == "EXPOSE" for p in rest.split()]
image_port = int(option(entrypoint, "--port", "8080"))
note_serve_flags(entrypoint)
check(
    "Containerfile: swift build uses --static-swift-stdlib",
    any(ins == "RUN" and "swift build" in rest and "--static-swift-stdlib" in rest for ins, rest in containerfile),
    "no RUN line builds with --static-swift-stdlib",
)
check(
    "Containerfile: ENTRYPOINT is `tandem serve --host 0.0.0.0`",
    entrypoint[:2] == ["tandem", "serve"] and option(entrypoint, "--host") == "0.0.0.0",
    f"ENTRYPOINT {entrypoint}",
)
check(f"Containerfile: EXPOSE {exposed} includes --port {image_port}", image_port in exposed, "not exposed")
users = [rest for ins, rest in containerfile if ins == "USER"]
check(
    "Containerfile: runs as a non-root user",
    users and users[-1].split(":")[0] not in ("root", "0"),
    f"USER {users[-1] if users else '(none)'}",
)

# --- Kubernetes: the Tandem Deployment, its Service and probes ---------------------------------


def resolve_port(port, container):
    """A probe's or Service's port (number or name) as a number, using the container's named ports."""
    if isinstance(port, int):
        return port
    named = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
    return int(port) if str(port).isdigit() else named.get(port)


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


tandem_pods = []  # (name, labels, serving port, grace period) of each Tandem Deployment
for file, deployment in of_kind("Deployment"):
    pod = deployment["spec"]["template"]
    for container in pod["spec"]["containers"]:
        if not is_tandem_image(container.get("image")):
            continue
        argv = [str(a) for a in (container.get("command") or entrypoint) + container.get("args", [])]
        note_serve_flags(argv)
        name = f"{file} {deployment['metadata']['name']}"
        check(f"{name}: runs `tandem serve`", argv[:2] == ["tandem", "serve"], f"runs {argv[:2]}")
        port = int(option(argv, "--port", "8080"))
        grace = float(option(argv, "--shutdown-grace", DEFAULT_SHUTDOWN_GRACE))
        period = pod["spec"].get("terminationGracePeriodSeconds", 30)
        tandem_pods.append((name, pod["metadata"].get("labels", {}), port, period))
        check(f"{name}: --host 0.0.0.0", option(argv, "--host") == "0.0.0.0", f"--host {option(argv, '--host')}")
        check(f"{name}: --port {port} matches the image's EXPOSE", port in exposed, f"EXPOSE {exposed}")
        ports = [p["containerPort"] for p in container.get("ports", [])]
        check(f"{name}: containerPort {ports} includes --port {port}", port in ports, "missing")
        check(
            f"{name}: terminationGracePeriodSeconds {period} >= --shutdown-grace {grace:g} + 2",
            period >= grace + 2,
            "the kubelet would kill Tandem while requests may still finish",
        )
        check(f"{name}: has a readiness probe", "readinessProbe" in container, "none")
        for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
            probe = container.get(kind)
            if probe is None:
                continue
            get = probe.get("httpGet", {})
            target = resolve_port(get.get("port"), container)
            check(
                f"{name}: {kind} is GET /health on port {port}",
                get.get("path") == "/health" and target == port,
                f"{get.get('path')} on port {target}",
            )
        live = container.get("livenessProbe")
        if live:
            window = live.get("periodSeconds", 10) * live.get("failureThreshold", 3)
            check(
                f"{name}: liveness tolerates {window} s of 503 >= the grace period {period}",
                window >= period,
                "a draining pod (503 on /health) would be restarted",
            )
        limit = container.get("resources", {}).get("limits", {}).get("cpu")
        if limit is not None:
            threads = option(argv, "--threads")
            check(
                f"{name}: --threads {threads} equals the CPU limit {limit}",
                threads is not None and float(threads) == cpus(limit),
                "Tandem would start one thread per node core",
            )
        for file_s, service in of_kind("Service"):
            if selects(service["spec"].get("selector"), pod["metadata"].get("labels", {})):
                targets = [resolve_port(p.get("targetPort", p["port"]), container) for p in service["spec"]["ports"]]
                check(
                    f"{file_s} Service {service['metadata']['name']}: targetPort {targets} includes {port}",
                    port in targets,
                    "no Service port reaches Tandem",
                )
check("kubernetes: a Deployment runs the tandem image", tandem_pods, "none found")

# --- Kubernetes: InferencePool, HTTPRoute, endpoint picker --------------------------------------

pools = of_kind("InferencePool")
check("kubernetes: an InferencePool exists", pools, "none found")
for file, pool in pools:
    name, spec = pool["metadata"]["name"], pool["spec"]
    label = f"{file} InferencePool {name}"
    check(
        f"{label}: apiVersion inference.networking.k8s.io/v1",
        pool["apiVersion"] == "inference.networking.k8s.io/v1",
        pool["apiVersion"],
    )
    members = [p for p in tandem_pods if selects(spec.get("selector", {}).get("matchLabels"), p[1])]
    check(f"{label}: selector.matchLabels selects the Tandem pods", members, "selects none")
    numbers = [p.get("number") for p in spec.get("targetPorts", [])]
    check(
        f"{label}: targetPorts {numbers} == the pods' --port",
        members and all(numbers == [m[2]] for m in members),
        f"pods listen on {[m[2] for m in members]}",
    )
    routed = [
        f
        for f, route in of_kind("HTTPRoute")
        for rule in route["spec"].get("rules", [])
        for ref in rule.get("backendRefs", [])
        if ref.get("group") == "inference.networking.k8s.io" and ref.get("kind") == "InferencePool" and ref.get("name") == name
    ]
    check(f"{label}: an HTTPRoute backendRef names it (group inference.networking.k8s.io)", routed, "none does")

    picker = spec.get("endpointPickerRef", {})
    services = [s for _, s in of_kind("Service") if s["metadata"]["name"] == picker.get("name")]
    service_ports = [p["port"] for s in services for p in s["spec"]["ports"]]
    check(
        f"{label}: endpointPickerRef {picker.get('name')}:{picker.get('port', {}).get('number')} is a Service port",
        picker.get("port", {}).get("number") in service_ports,
        f"Service ports {service_ports}",
    )
    epps = [
        (f, d, c)
        for f, d in of_kind("Deployment")
        for c in d["spec"]["template"]["spec"]["containers"]
        if services and selects(services[0]["spec"].get("selector"), d["spec"]["template"]["metadata"].get("labels", {}))
    ]
    check(f"{label}: the picker's Service selects a Deployment", epps, "none")
    for f, epp, container in epps:
        args = [str(a) for a in container.get("args", [])]
        epp_label = f"{f} {epp['metadata']['name']}"
        check(f"{epp_label}: --pool-name {name}", option(args, "--pool-name") == name, option(args, "--pool-name"))
        check(
            f"{epp_label}: image pinned to a release tag",
            re.search(r":v\d+\.\d+\.\d+$", container["image"]),
            container["image"],
        )
        for flag in EPP_METRIC_FLAGS:
            spec_text = option(args, flag)
            metric = (spec_text or "").split("{")[0]
            check(
                f"{epp_label}: {flag} {metric} is exported by Sources/Server",
                spec_text and exported(metric),
                "not set" if not spec_text else f"no string literal \"{metric}\" in Sources/Server/*.swift",
            )
        epp_grace = epp["spec"]["template"]["spec"].get("terminationGracePeriodSeconds", 30)
        longest = max((m[3] for m in members), default=0)
        check(
            f"{epp_label}: grace period {epp_grace} >= the pool's pods' {longest}",
            epp_grace >= longest,
            "upstream advises no shorter than the pods' longest",
        )

# --- Compose: workers and routers ----------------------------------------------------------------

for file, compose in [(f, d) for f, d in documents if "services" in d]:
    services = compose["services"]
    workers = {}  # service name -> argv of `tandem serve`
    for name, service in services.items():
        command = service.get("command", [])
        command = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
        if is_tandem_image(service.get("image")):
            argv = [str(a) for a in service.get("entrypoint") or entrypoint] + command
            note_serve_flags(argv)
            workers[name] = argv
            label = f"{file} {name}"
            grace = float(option(argv, "--shutdown-grace", DEFAULT_SHUTDOWN_GRACE))
            stop = seconds(service.get("stop_grace_period", "10s"))
            check(f"{label}: --host 0.0.0.0", option(argv, "--host") == "0.0.0.0", f"--host {option(argv, '--host')}")
            check(
                f"{label}: stop_grace_period {stop:g} s >= --shutdown-grace {grace:g} + 2",
                stop >= grace + 2,
                "Compose would kill Tandem while requests may still finish",
            )
            if "cpus" in service:
                threads = option(argv, "--threads")
                check(
                    f"{label}: --threads {threads} equals cpus {service['cpus']}",
                    threads is not None and float(threads) == cpus(service["cpus"]),
                    "Tandem would start one thread per host core",
                )
    check(f"{file}: has Tandem workers", workers, "no service uses a tandem image")

    for name, service in services.items():
        command = [str(a) for a in service.get("command", [])]
        router = next((r for r in ROUTER_PINS if command[:1] == [r]), None)
        if router is None:
            continue
        label = f"{file} {name}"
        build = service.get("build", {})
        recipe = build.get("dockerfile_inline", "") if isinstance(build, dict) else ""
        pin = f"{router}=={ROUTER_PINS[router]}"
        check(f"{label}: installs {pin}", re.search(rf"{re.escape(pin)}(\s|$)", recipe), "pin missing")
        check(f"{label}: --host 0.0.0.0", option(command, "--host") == "0.0.0.0", f"--host {option(command, '--host')}")
        port = option(command, "--port", "30000")
        published = [str(p).rsplit(":", 1)[-1] for p in service.get("ports", [])]
        check(f"{label}: its --port {port} is published", port in published, f"ports {service.get('ports')}")
        start = command.index("--worker-urls") + 1 if "--worker-urls" in command else len(command)
        urls = []
        for arg in command[start:]:
            if arg.startswith("--"):
                break
            urls.append(arg)
        check(f"{label}: has --worker-urls", urls, "none")
        for url in urls:
            match = re.fullmatch(r"http://([\w.-]+):(\d+)/?", url)
            host, url_port = (match.group(1), int(match.group(2))) if match else (None, None)
            argv = workers.get(host)
            worker_port = int(option(argv, "--port", "8080")) if argv else None
            check(
                f"{label}: {url} is a Tandem worker on its --port",
                argv is not None and url_port == worker_port,
                f"worker {host} listens on {worker_port}" if argv else "no such worker service",
            )
            if argv is not None:
                shape = option(argv, "--get-load-format", "object")
                check(
                    f"{label}: {host} answers /get_load as {ROUTER_LOAD_FORMAT[router]}",
                    shape == ROUTER_LOAD_FORMAT[router],
                    f"--get-load-format {shape}",
                )
                check(
                    f"{label}: {host} is started with it (same profiles)",
                    set(services[host].get("profiles", [])) == set(service.get("profiles", [])),
                    f"{services[host].get('profiles')} vs {service.get('profiles')}",
                )

# --- Every `tandem serve` flag used is one Tandem has ---------------------------------------------

for flag in sorted(serve_flags_used):
    check(f"tandem serve {flag} is declared in Sources/TandemCLI", serve_flag_exists(flag), "no such option")

failed = results.count(False)
print(f"{len(results) - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
