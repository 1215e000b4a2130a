# Redis and redis-cli from Debian's packages, for the pod and compose demos where no registry
# image can be pulled (scripts/container-test.sh builds it as herdguard-tools:local): the pod's
# Redis container runs redis-server from it, the demo app container a redis-cli loop.
#
#   podman build -f docker/tools.Dockerfile -t herdguard-tools:local docker
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server redis-tools \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
 && groupadd --gid 10002 app \
 && useradd --uid 10002 --gid 10002 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin app
USER 10002:10002
CMD ["redis-server", "--save", "", "--appendonly", "no", "--protected-mode", "no"]
