#!/usr/bin/env python3
"""docker/kubernetes/sidecar.yaml as `podman kube play` can run it on one machine, without a
cluster or a registry. Writes the result on stdout.

Usage: scripts/sidecar-for-podman.py SIDECAR_YAML HERDGUARD_IMAGE TOOLS_IMAGE

What changes, and why:
- images: herdguard's placeholder becomes HERDGUARD_IMAGE; the app becomes TOOLS_IMAGE (Debian's
  redis-tools) running a redis-cli loop against 127.0.0.1:6380, as an app in the pod would;
- the pod gets what a cluster would provide as Services: a Redis container (TOOLS_IMAGE's
  redis-server on 127.0.0.1:6379) and the demo upstream (HERDGUARD_IMAGE's
  herdguard-demo-upstream on 127.0.0.1:8080); the ConfigMap's herdguard.yaml points at them;
- herdguard moves from initContainers (a native sidecar) to containers: podman 4.3 runs init
  containers to completion before the others, and herdguard never completes. This is the
  manifest's own variant for clusters before Kubernetes 1.29;
- one replica (a pod on one machine), and the admin port published on a host port of the
  caller's choice (ADMIN_HOST_PORT in the environment) so the probes can be checked from outside;
- the liveness probe runs as podman can run it (below).
Everything else (the ConfigMap, probes, security contexts, resources) is kept as shipped.
"""
import os
import sys

import yaml


def main():
    src, hg_image, tools_image = sys.argv[1:4]
    with open(src) as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    cm = next(d for d in docs if d["kind"] == "ConfigMap")
    dep = next(d for d in docs if d["kind"] == "Deployment")

    conf = yaml.safe_load(cm["data"]["herdguard.yaml"])
    conf["redis"]["address"] = "127.0.0.1:6379"
    for route in conf.get("routes", []):
        route["upstream"] = "http://127.0.0.1:8080" + route["upstream"].split(":8080", 1)[1]
    cm["data"]["herdguard.yaml"] = yaml.safe_dump(conf, sort_keys=False)

    dep["spec"]["replicas"] = 1
    pod = dep["spec"]["template"]["spec"]
    hg = next(c for c in pod.pop("initContainers") if c["name"] == "herdguard")
    hg.pop("restartPolicy", None)
    hg["image"] = hg_image
    admin_port = os.environ.get("ADMIN_HOST_PORT")
    ports = {p["name"]: p["containerPort"] for p in hg["ports"]}
    if admin_port:
        for p in hg["ports"]:
            if p["name"] == "admin":
                p["hostPort"] = int(admin_port)
    # podman 4.3 turns a livenessProbe into a healthcheck run inside the container, as
    # `curl -f http://localhost:<port>/<path>`: it does not resolve named ports (it wrote port 0)
    # and the image has no curl. So here the same GET runs through bash's /dev/tcp, as the
    # image's own HEALTHCHECK does. Readiness stays an HTTP probe: podman ignores it, and the
    # test asks /readyz from outside the pod, as kubelet does.
    probe = hg["livenessProbe"]
    get = probe.pop("httpGet")
    port = ports.get(get["port"], get["port"])
    # podman 4.3 also splits an exec command at spaces and hands the words, joined again, to
    # /bin/sh -c: so the command is one shell line (bash, for /dev/tcp), single spaces only.
    script = (f"exec 3<>/dev/tcp/127.0.0.1/{port} && printf \"GET {get['path']} HTTP/1.0\\r\\n\\r\\n\" >&3 "
              "&& read -r -t 2 status <&3 && [[ $status == *\" 200 \"* ]]")
    probe["exec"] = {"command": [f"bash -c '{script}'"]}
    app = next(c for c in pod["containers"] if c["name"] == "app")
    app["image"] = tools_image
    # PID 1 in its container: it must act on SIGTERM itself, or a stop waits the whole grace period.
    app["command"] = ["sh", "-c",
                      "trap 'exit 0' TERM; while true; do echo \"$(date +%T) $(redis-cli -h 127.0.0.1 -p 6380 GET product:1)\"; "
                      "sleep 1 & wait $!; done"]
    redis = {
        "name": "redis",
        "image": tools_image,
        "command": ["redis-server", "--bind", "127.0.0.1", "--port", "6379", "--save", "", "--appendonly", "no"],
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
    }
    upstream = {
        "name": "upstream",
        "image": hg_image,
        "command": ["herdguard-demo-upstream", "--listen", "127.0.0.1:8080", "--latency-ms", "200"],
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
    }
    pod["containers"] = [redis, upstream, hg] + pod["containers"]
    yaml.safe_dump_all([cm, dep], sys.stdout, sort_keys=False)


if __name__ == "__main__":
    main()
