#!/usr/bin/env python3
"""Checks deploy/: run by scripts/test with the interpreter it set up
(kubernetes-validate, PyYAML and prometheus-client installed).

    check_deploy.py BINARY

1. Every object of deploy/storetrace.yaml validates, strictly (no unknown
   field), against the Kubernetes schemas of the oldest and newest versions
   kubernetes-validate ships offline.
2. Host paths: the paths storetrace reads or writes are taken from its
   source (every absolute path in a string of Sources/, comments left out,
   whose first directory exists on this machine: /proc, /sys, /dev, and the
   paths its help names, the kubelet's and /var/lib/storetrace). Each must
   be reachable in the container: /proc through hostPID, the others on a
   hostPath volume mounted at the same path. Each hostPath volume must hold
   one of them or a path of the container's command line; nothing else is
   mounted from the host.
3. The container's command line runs: the binary is run with exactly those
   arguments (its paths moved into a scratch directory) for 2 s as root;
   it must exit 0, leave a capture in the -o directory and a metrics file
   that prometheus_client parses, saying storetrace_up 0.
4. The Containerfile installs the packages of every library the binary
   loads that the Swift toolchain does not provide (--static-swift-stdlib
   links those in) and the base image lacks; its entrypoint is the
   manifest's command.
5. The checks of 1, 2 and 4 fail on a manifest that lacks a needed mount,
   mounts an unknown host path, or drops hostPID (self-test on copies).

Prints one line per check and "deploy: N checks passed"; exits 1 on the
first failure, naming it.
"""
import copy
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "deploy" / "storetrace.yaml"
CONTAINERFILE = ROOT / "deploy" / "Containerfile"
BUILD_IMAGE = ROOT / "deploy" / "build-image"
# What debian:bookworm-slim (the Containerfile's FROM) already has of the
# libraries' packages: glibc, and the C++ runtime apt itself needs.
BASE_IMAGE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6"}


class CheckFailed(Exception):
    pass


def load_manifest(text):
    return [doc for doc in yaml.safe_load_all(text) if doc]


def daemonset(docs):
    found = [doc for doc in docs if doc.get("kind") == "DaemonSet"]
    if len(found) != 1:
        raise CheckFailed(f"expected one DaemonSet, found {len(found)}")
    return found[0]


def container(docs):
    containers = daemonset(docs)["spec"]["template"]["spec"]["containers"]
    if len(containers) != 1:
        raise CheckFailed(f"expected one container, found {len(containers)}")
    return containers[0]


# 1. Schemas.

def schema_versions():
    directory = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    versions = sorted((tuple(int(part) for part in name.name[1:].split("-")[0].split(".")), name.name[1:].split("-")[0])
                      for name in directory.iterdir() if name.name.endswith("-local-strict"))
    if not versions:
        raise CheckFailed(f"no schemas in {directory}")
    return [versions[0][1], versions[-1][1]]


def check_schemas(docs):
    versions = schema_versions()
    for doc in docs:
        for version in versions:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                raise CheckFailed(f"{doc['kind']} {doc['metadata']['name']}: Kubernetes {version}: {error.message} "
                                  f"at {'/'.join(str(part) for part in error.path)}")
    return f"{len(docs)} objects valid against Kubernetes {' and '.join(versions)} (strict)"


# 2. Host paths.

PATH_IN_CODE = re.compile(r"""(?:^|(?<=[\s"'(=`]))(/[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.:@~*\\()-]*)*)""")


def paths_in_sources():
    """Absolute paths in Sources/ outside comments whose first directory
    exists here, each with one place it is named."""
    found = {}
    for file in sorted((ROOT / "Sources").rglob("*")):
        if file.suffix not in (".swift", ".c", ".h"):
            continue
        for number, line in enumerate(file.read_text(errors="replace").splitlines(), 1):
            if line.strip().startswith(("//", "*", "/*")):
                continue
            # --help text names example paths (/var/lib/kubelet2 as what a
            # prefix does not match); it is read by people, not storetrace.
            if "ArgumentHelp(" in line or "help:" in line:
                continue
            for match in PATH_IN_CODE.finditer(line):
                path = match.group(1)
                # Interpolations and punctuation end the fixed part: "/proc/\(pid)/root" -> /proc.
                path = re.split(r"[\\()]", path)[0].rstrip("/.:)") or "/"
                top = "/" + path.split("/")[1]
                if top != "/" and os.path.isdir(top) and not os.path.islink(top):
                    found.setdefault(path, f"{file.relative_to(ROOT)}:{number}")
    if not found:
        raise CheckFailed("no path found in Sources/")
    return found


def under(path, directory):
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def host_mounts(docs):
    """hostPath volumes mounted in the container: mountPath -> host path."""
    spec = daemonset(docs)["spec"]["template"]["spec"]
    volumes = {volume["name"]: volume for volume in spec.get("volumes", [])}
    mounts = {}
    for mount in container(docs).get("volumeMounts", []):
        volume = volumes.get(mount["name"])
        if volume is None or "hostPath" not in volume:
            continue
        mounts[mount["mountPath"]] = volume["hostPath"]["path"]
    for name, volume in volumes.items():
        if "hostPath" in volume and not any(mount["name"] == name for mount in container(docs).get("volumeMounts", [])):
            raise CheckFailed(f"hostPath volume {name} ({volume['hostPath']['path']}) is not mounted")
    return mounts


def command_paths(docs):
    """Paths of the container's command line that storetrace writes: -o's
    directory and the metrics file's directory."""
    args = container(docs).get("args", [])
    paths = []
    for option in ("-o", "--output"):
        if option in args:
            paths.append(args[args.index(option) + 1])
    if "--metrics-file" in args:
        paths.append(os.path.dirname(args[args.index("--metrics-file") + 1]))
    return paths


def check_host_paths(docs, needed):
    spec = daemonset(docs)["spec"]["template"]["spec"]
    mounts = host_mounts(docs)
    for mount_path, host_path in mounts.items():
        if mount_path != host_path:
            raise CheckFailed(f"host {host_path} is mounted at {mount_path}: storetrace names host paths as they are")
    problems = []
    for path, where in sorted(needed.items()):
        if under(path, "/proc"):
            if not spec.get("hostPID"):
                problems.append(f"{path} ({where}) needs hostPID: true (a runtime does not bind-mount over /proc)")
        elif not any(under(path, mount) for mount in mounts):
            problems.append(f"{path} ({where}) is on no hostPath volume")
    written = command_paths(docs)
    for path in written:
        if not any(under(path, mount) for mount in mounts):
            problems.append(f"{path} (the command line) is on no hostPath volume: it would not outlive the pod")
    for mount in mounts:
        if not any(under(path, mount) for path in list(needed) + written):
            problems.append(f"hostPath {mount} is neither read nor written by storetrace")
    if problems:
        raise CheckFailed("; ".join(problems))
    return (f"{len(mounts)} hostPath mounts ({', '.join(sorted(mounts))}) and hostPID cover the "
            f"{len(needed)} paths named in Sources/ and the command line's {len(written)}; none is unused")


def check_pod_settings(docs):
    spec = daemonset(docs)["spec"]["template"]["spec"]
    main = container(docs)
    problems = []
    if not main.get("securityContext", {}).get("privileged"):
        problems.append("not privileged (BPF, perf events, tracefs)")
    if not spec.get("hostNetwork"):
        problems.append("no hostNetwork (uevents reach the host network namespace only)")
    if {"operator": "Exists"} not in spec.get("tolerations", []):
        problems.append("does not tolerate every taint")
    resources = main.get("resources", {})
    for kind in ("requests", "limits"):
        if not {"cpu", "memory"} <= set(resources.get(kind, {})):
            problems.append(f"no cpu and memory {kind}")
    if problems:
        raise CheckFailed("; ".join(problems))
    return "privileged, hostPID, hostNetwork, every taint tolerated, cpu and memory requests and limits"


# 3. The command line.

def check_command_runs(docs, binary):
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true" or os.environ.get("STORETRACE_REQUIRE_KERNEL_TESTS") == "1":
            raise CheckFailed("running the container's command line needs root")
        return "skipped: running the container's command line needs root"
    main = container(docs)
    args = list(main.get("args", []))
    scratch = tempfile.mkdtemp(prefix="storetrace-deploy-")
    try:
        # Every hostPath the arguments name moves into the scratch directory.
        for mount in host_mounts(docs):
            args = [scratch + arg if under(arg, mount) else arg for arg in args]
        for path in command_paths(docs):
            os.makedirs(scratch + path, exist_ok=True)
        command = [binary] + args + ["--duration", "2s"]
        run = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if run.returncode != 0:
            raise CheckFailed(f"{' '.join(command)} exited {run.returncode}: {run.stderr.strip()}")
        capture_dir = scratch + main["args"][main["args"].index("-o") + 1]
        captures = [name for name in os.listdir(capture_dir) if name.endswith(".stcap")]
        if len(captures) != 1:
            raise CheckFailed(f"expected one capture in {capture_dir}, found {os.listdir(capture_dir)}")
        metrics = scratch + main["args"][main["args"].index("--metrics-file") + 1]
        from prometheus_client.parser import text_string_to_metric_families
        samples = {sample.name: sample.value
                   for family in text_string_to_metric_families(Path(metrics).read_text())
                   for sample in family.samples if not sample.labels}
        if samples.get("storetrace_up") != 0 or not samples.get("storetrace_capture_bytes_total"):
            raise CheckFailed(f"{metrics}: storetrace_up {samples.get('storetrace_up')}, "
                              f"capture bytes {samples.get('storetrace_capture_bytes_total')}")
        return (f"storetrace {' '.join(main['args'])} ran 2 s: exit 0, {captures[0]}, "
                f"metrics parsed ({int(samples['storetrace_capture_bytes_total'])} capture bytes)")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


# 4. The Containerfile.

def package_of(library):
    candidates = [library, os.path.realpath(library)]
    for path in list(candidates):
        if path.startswith("/usr/lib/"):
            candidates.append(path[len("/usr"):])
        elif path.startswith("/lib/"):
            candidates.append("/usr" + path)
    for path in candidates:
        run = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
        if run.returncode == 0:
            return run.stdout.split(":")[0]
    return None


def check_containerfile(docs, binary):
    text = CONTAINERFILE.read_text()
    installed = set()
    for line in re.findall(r"apt-get install ([^&\n]*)", text):
        installed |= {word for word in line.split() if not word.startswith("-") and word != "\\"}
    copies = re.findall(r"^COPY\s+(\S+)\s+(\S+)", text, re.M)
    entrypoint = re.search(r'^ENTRYPOINT \["([^"]+)"', text, re.M)
    problems = []
    if copies != [("storetrace", "/usr/local/bin/storetrace")]:
        problems.append(f"COPY {copies}: expected the binary alone, as storetrace")
    if '"$context/storetrace"' not in BUILD_IMAGE.read_text():
        problems.append("deploy/build-image does not put the binary in the context as storetrace")
    if not entrypoint or [entrypoint.group(1)] != container(docs).get("command"):
        problems.append(f"ENTRYPOINT {entrypoint and entrypoint.group(1)} is not the manifest's command")
    ldd = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    swift = os.path.realpath(os.path.join(os.path.dirname(shutil.which("swift") or "/nonexistent"), "..", "lib"))
    packages = {}
    for name, path in re.findall(r"^\s*(\S+) => (\S+)", ldd, re.M):
        if os.path.realpath(path).startswith(swift + "/"):
            continue  # linked in by --static-swift-stdlib in the shipped build
        package = package_of(path)
        if package is None:
            problems.append(f"{name} ({path}) belongs to no Debian package")
        else:
            packages[name] = package
    missing = sorted({package for package in packages.values()} - installed - BASE_IMAGE_PACKAGES)
    if missing:
        problems.append(f"the binary loads libraries of {', '.join(missing)}, which the Containerfile does not install")
    unused = sorted(installed - set(packages.values()))
    if unused:
        problems.append(f"the Containerfile installs {', '.join(unused)}, which the binary does not load")
    if problems:
        raise CheckFailed("; ".join(problems))
    installs = f"installs {', '.join(sorted(installed))}" if installed else "installs nothing"
    return f"Containerfile {installs}: with the base image, every library of the binary ({len(packages)})"


# 5. The checks can fail.

def mutated(docs, change):
    copy_docs = copy.deepcopy(docs)
    change(daemonset(copy_docs)["spec"]["template"]["spec"])
    return copy_docs


def check_self(docs, needed):
    def without_mount(path):
        def change(spec):
            mount = next(m for m in spec["containers"][0]["volumeMounts"] if m["mountPath"] == path)
            spec["containers"][0]["volumeMounts"].remove(mount)
            spec["volumes"] = [v for v in spec["volumes"] if v["name"] != mount["name"]]
        return change

    def with_extra(spec):
        spec["volumes"].append({"name": "etc", "hostPath": {"path": "/etc", "type": "Directory"}})
        spec["containers"][0]["volumeMounts"].append({"name": "etc", "mountPath": "/etc", "readOnly": True})

    def moved(spec):
        spec["containers"][0]["volumeMounts"][0]["mountPath"] = "/host" + spec["containers"][0]["volumeMounts"][0]["mountPath"]

    cases = [(f"without {mount['mountPath']}", without_mount(mount["mountPath"]))
             for mount in container(docs)["volumeMounts"]]
    cases += [("with /etc mounted", with_extra), ("without hostPID", lambda spec: spec.pop("hostPID")),
              ("with a mount moved under /host", moved)]
    for name, change in cases:
        try:
            check_host_paths(mutated(docs, change), needed)
        except CheckFailed:
            continue
        raise CheckFailed(f"the host path check passes a manifest {name}")
    broken = mutated(docs, lambda spec: spec.update(hostPIDs=True))
    try:
        check_schemas(broken)
    except CheckFailed:
        pass
    else:
        raise CheckFailed("the schema check passes an unknown field (hostPIDs)")
    return f"the checks fail on {len(cases) + 1} broken copies of the manifest ({', '.join(name for name, _ in cases)}, an unknown field)"


def main():
    if len(sys.argv) != 2:
        print("usage: check_deploy.py BINARY", file=sys.stderr)
        return 2
    binary = sys.argv[1]
    try:
        docs = load_manifest(MANIFEST.read_text())
        needed = paths_in_sources()
        checks = [
            lambda: check_schemas(docs),
            lambda: check_pod_settings(docs),
            lambda: check_host_paths(docs, needed),
            lambda: check_containerfile(docs, binary),
            lambda: check_self(docs, needed),
            lambda: check_command_runs(docs, binary),
        ]
        for check in checks:
            print("deploy: " + check())
    except CheckFailed as failure:
        print(f"deploy: FAILED: {failure}", file=sys.stderr)
        return 1
    print(f"deploy: {len(checks)} checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
