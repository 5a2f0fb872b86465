#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Checks docker/compose.yaml without Docker (CI has no engine; `docker compose config`
is not available): parses it and checks the rules its comment promises.

  - every service belongs to exactly one profile, and the profiles are one, three, test:
    `--profile three` never starts the one-node set, and the other way round;
  - each profile's mongod processes form one replica set: one member for one and test,
    three for three; the test profile's run with enableTestCommands=1;
  - no two services publish the same port (per profile, and across profiles, so that all
    of them can run side by side), always on 127.0.0.1;
  - every mongod has a health check on its own port that exits non-zero until its set has
    a primary (quit(...) on isWritablePrimary or hello().primary);
  - each set is initiated by exactly one health check, idempotently: rs.initiate only after
    NotYetInitialized, AlreadyInitialized taken as done (a second `up` must not loop), with
    the members at the ports they listen on.

Usage: check-compose.py [FILE|-]   (default: compose.yaml beside this script)
       check-compose.py --self-test  (broken variants of the file must each be refused)
Exit status 0 when every rule holds, 1 with one line per broken rule.
"""
import copy
import os
import re
import sys

import yaml

PROFILES = {"one": 1, "test": 1, "three": 3}


def arg_after(cmd, flag):
    """The value following flag in a command list, or None."""
    for i, a in enumerate(cmd[:-1]):
        if a == flag:
            return cmd[i + 1]
    return None


def published_ports(name, svc, errors):
    """Host ports the service takes: its published ports, or under host networking the
    port its mongod listens on."""
    cmd = [str(a) for a in svc.get("command") or []]
    if svc.get("network_mode") == "host":
        port = arg_after(cmd, "--port")
        if port is None:
            errors.append(f"{name}: host networking without an explicit --port")
            return []
        if arg_after(cmd, "--bind_ip") != "127.0.0.1":
            errors.append(f"{name}: host networking must bind 127.0.0.1 only")
        return [int(port)]
    ports = []
    for p in svc.get("ports") or []:
        p = str(p)
        parts = p.split(":")
        if len(parts) != 3 or parts[0] != "127.0.0.1":
            errors.append(f"{name}: port {p!r} must be 127.0.0.1:HOST:CONTAINER")
            continue
        ports.append(int(parts[1]))
    return ports


def health_script(svc):
    test = (svc.get("healthcheck") or {}).get("test")
    if not isinstance(test, list) or not test or test[0] not in ("CMD", "CMD-SHELL"):
        return None, None
    cmd = [str(a) for a in test[1:]]
    return cmd, arg_after(cmd, "--eval") or " ".join(cmd)


def check(doc):
    errors = []
    services = (doc or {}).get("services") or {}
    if not services:
        return ["no services"]
    by_profile = {p: [] for p in PROFILES}
    for name, svc in services.items():
        profiles = svc.get("profiles") or []
        if len(profiles) != 1 or profiles[0] not in PROFILES:
            errors.append(f"{name}: must belong to exactly one of the profiles {sorted(PROFILES)}, not {profiles}"
                          " (a service without a profile starts with every profile)")
            continue
        by_profile[profiles[0]].append(name)

    owner_of_port = {}
    for profile, members in sorted(by_profile.items()):
        if len(members) != PROFILES[profile]:
            errors.append(f"profile {profile}: {len(members)} mongod services, expected {PROFILES[profile]}")
        sets, initiators = set(), []
        listen = {}
        for name in members:
            svc = services[name]
            cmd = [str(a) for a in svc.get("command") or []]
            rs = arg_after(cmd, "--replSet")
            port = arg_after(cmd, "--port")
            if rs is None or port is None:
                errors.append(f"{name}: mongod needs --replSet and --port")
                continue
            sets.add(rs)
            listen[name] = int(port)
            if profile == "test" and "enableTestCommands=1" not in cmd:
                errors.append(f"{name}: the test profile needs --setParameter enableTestCommands=1")
            for hp in published_ports(name, svc, errors):
                if hp in owner_of_port:
                    errors.append(f"{name}: port {hp} is already published by {owner_of_port[hp]}")
                owner_of_port[hp] = name
            hc, script = health_script(svc)
            if hc is None:
                errors.append(f"{name}: no health check")
                continue
            if arg_after(hc, "--port") != port:
                errors.append(f"{name}: the health check asks port {arg_after(hc, '--port')}, mongod listens on {port}")
            if not re.search(r"quit\(\s*db\.hello\(\)\.(isWritablePrimary|primary)\s*\?\s*0\s*:\s*1\s*\)", script):
                errors.append(f"{name}: the health check must exit non-zero until a primary exists "
                              "(quit(db.hello().isWritablePrimary ? 0 : 1) or .primary)")
            if "rs.initiate" in script:
                initiators.append((name, script))
            hc_cfg = svc.get("healthcheck") or {}
            if int(hc_cfg.get("retries", 3)) < 10:
                errors.append(f"{name}: the health check gives up too soon for an election (retries < 10)")
        if len(sets) > 1:
            errors.append(f"profile {profile}: members of several sets {sorted(sets)}")
        if len(initiators) != 1:
            errors.append(f"profile {profile}: {len(initiators)} health checks initiate the set, expected 1")
        for name, script in initiators:
            if not re.search(r"catch\s*\(\s*(\w+)\s*\)\s*\{\s*if\s*\(\s*\1\.codeName\s*!==\s*'NotYetInitialized'\s*\)\s*throw",
                             script):
                errors.append(f"{name}: rs.initiate must run only after rs.status() failed with NotYetInitialized")
            if not re.search(r"\.codeName\s*!==\s*'AlreadyInitialized'\s*\)\s*throw", script):
                errors.append(f"{name}: AlreadyInitialized from rs.initiate must count as done (a second up would loop)")
            m = re.search(r"rs\.initiate\(\{_id:\s*'([^']+)'", script)
            if not m or m.group(1) not in sets:
                errors.append(f"{name}: rs.initiate names another set than --replSet {sorted(sets)}")
            hosts = sorted(int(p) for p in re.findall(r"host:\s*'127\.0\.0\.1:(\d+)'", script))
            if hosts != sorted(listen.values()):
                errors.append(f"{name}: the set's members {hosts} are not the ports its mongods listen on "
                              f"{sorted(listen.values())}")
        for name in members:
            if services[name].get("restart") == "on-failure" and "rs.initiate" in " ".join(
                    str(a) for a in services[name].get("command") or []):
                errors.append(f"{name}: an init container restarted on failure loops on AlreadyInitialized")
    return errors


def self_test(path):
    """Each broken variant of the file must be refused; the file itself accepted."""
    base = yaml.safe_load(open(path))
    assert check(base) == [], check(base)

    def variant(fn):
        d = copy.deepcopy(base)
        fn(d)
        return check(d)

    s = lambda d, n: d["services"][n]
    hc = lambda d, n: s(d, n)["healthcheck"]["test"]
    cases = {
        "a service without a profile": lambda d: s(d, "mongo").pop("profiles"),
        "two services on one port": lambda d: s(d, "mongo-test").__setitem__("ports", ["127.0.0.1:27017:27020"]),
        "a port on every interface": lambda d: s(d, "mongo").__setitem__("ports", ["27017:27017"]),
        "a health check that passes without a primary":
            lambda d: hc(d, "mongo").__setitem__(-1, hc(d, "mongo")[-1].replace("quit(db.hello().isWritablePrimary ? 0 : 1)", "rs.status().ok")),
        "rs.initiate without AlreadyInitialized":
            lambda d: hc(d, "rs3-a").__setitem__(-1, hc(d, "rs3-a")[-1].replace("AlreadyInitialized", "Whatever")),
        "rs.initiate on any error":
            lambda d: hc(d, "mongo").__setitem__(-1, hc(d, "mongo")[-1].replace("if (e.codeName !== 'NotYetInitialized') throw e; ", "")),
        "test profile without enableTestCommands":
            lambda d: s(d, "mongo-test").__setitem__("command", [a for a in s(d, "mongo-test")["command"] if a != "enableTestCommands=1"]),
        "a member missing from the set":
            lambda d: hc(d, "rs3-a").__setitem__(-1, hc(d, "rs3-a")[-1].replace(", {_id: 2, host: '127.0.0.1:27033'}", "")),
        "a health check on another port": lambda d: hc(d, "rs3-b").__setitem__(4, "27031"),
        "no health check": lambda d: s(d, "rs3-c").pop("healthcheck"),
    }
    bad = [name for name, fn in cases.items() if not variant(fn)]
    for name in bad:
        print(f"self-test: accepted a broken file: {name}")
    print(f"self-test: {len(cases) - len(bad)}/{len(cases)} broken variants refused")
    return 1 if bad else 0


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(here, "compose.yaml")
    if argv[1:2] == ["--self-test"]:
        return self_test(argv[2] if len(argv) > 2 else default)
    path = argv[1] if len(argv) > 1 else default
    text = sys.stdin.read() if path == "-" else open(path).read()
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        print(f"{path}: not valid YAML: {e}")
        return 1
    errors = check(doc)
    for e in errors:
        print(f"{path}: {e}")
    if not errors:
        print(f"{path}: ok ({', '.join(f'{p}' for p in sorted(PROFILES))} profiles)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
