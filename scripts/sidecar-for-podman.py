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
  caller's choice (ADMIN_HOST_PORT in the environment) so the probes can be checked from outside.
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
    if admin_port:
        for p in hg["ports"]:
            if p["name"] == "admin":
                p["hostPort"] = int(admin_port)
    app = next(c for c in pod["containers"] if c["name"] == "app")
    app["image"] = tools_image
    app["command"] = ["sh", "-c",
                      "while true; do echo \"$(date +%T) $(redis-cli -h 127.0.0.1 -p 6380 GET product:1)\"; sleep 1; done"]
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
