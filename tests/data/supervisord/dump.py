"""Loads a supervisord config with supervisord's own parser and prints what it read,
as JSON, for tests/host_config.rs to compare with the Rust reader.

Usage: python3 dump.py CONFIG [--all]

Prints a JSON array with an object per process, in supervisord's order (groups by
priority then name, each group's processes as built), using supervisord's key names.
With --all, prints an object: {"processes": [...], "supervisord": {...},
"servers": [...], "warnings": [...]}. If supervisord refuses the config, prints its
message on stderr and exits 2.
"""

import json
import socket
import sys

from supervisor.datatypes import Automatic, RestartUnconditionally
from supervisor.datatypes import RestartWhenExitUnexpected
from supervisor.events import getEventNameByType
from supervisor.loggers import LevelsByDescription
from supervisor.options import EventListenerPoolConfig, ServerOptions


def logfile(value):
    if value is Automatic:
        return "AUTO"
    if value is None:
        return "NONE"
    return value


def autorestart(value):
    if value is RestartUnconditionally:
        return True
    if value is RestartWhenExitUnexpected:
        return "unexpected"
    return False


def channel(out, p, name):
    out[name + "_logfile"] = logfile(getattr(p, name + "_logfile"))
    for key in ("logfile_maxbytes", "logfile_backups", "capture_maxbytes",
                "events_enabled", "syslog"):
        out[name + "_" + key] = getattr(p, name + "_" + key)


def process(group, p):
    out = {
        "name": p.name,
        "group": group.name,
        "command": p.command,
        "directory": p.directory,
        "uid": p.uid,
        "umask": p.umask,
        "priority": p.priority,
        "autostart": p.autostart,
        "autorestart": autorestart(p.autorestart),
        "startsecs": p.startsecs,
        "startretries": p.startretries,
        "exitcodes": p.exitcodes,
        "stopsignal": int(p.stopsignal),
        "stopwaitsecs": p.stopwaitsecs,
        "stopasgroup": p.stopasgroup,
        "killasgroup": p.killasgroup,
        "redirect_stderr": p.redirect_stderr,
        "environment": p.environment or {},
        "serverurl": p.serverurl,
        "eventlistener": isinstance(group, EventListenerPoolConfig),
    }
    channel(out, p, "stdout")
    channel(out, p, "stderr")
    if out["eventlistener"]:
        out["events"] = sorted(getEventNameByType(e) for e in group.pool_events)
        out["buffer_size"] = group.buffer_size
    return out


def level_name(number):
    for name, value in vars(LevelsByDescription).items():
        if value == number and not name.startswith("_"):
            return name
    return number


def supervisord(section):
    keys = ("logfile", "logfile_maxbytes", "logfile_backups", "pidfile",
            "nodaemon", "silent", "minfds", "minprocs", "umask", "user",
            "directory", "identifier", "childlogdir", "nocleanup", "strip_ansi",
            "environment")
    out = {key: getattr(section, key) for key in keys}
    out["loglevel"] = level_name(section.loglevel)
    return out


def server(config):
    out = {"username": config["username"], "password": config["password"]}
    if config["family"] == socket.AF_UNIX:
        out.update(file=config["file"], chmod=config["chmod"],
                   chown=list(config["chown"]))
    else:
        out.update(host=config["host"], port=config["port"])
    return out


def main():
    options = ServerOptions()
    options.configfile = sys.argv[1]
    try:
        options.process_config(do_usage=False)
    except ValueError as e:
        sys.stderr.write("%s\n" % e)
        sys.exit(2)
    processes = [process(g, p) for g in options.process_group_configs
                 for p in g.process_configs]
    if "--all" not in sys.argv[2:]:
        print(json.dumps(processes, indent=1))
        return
    section = options.configroot.supervisord
    print(json.dumps({
        "processes": processes,
        "supervisord": supervisord(section),
        "servers": [server(c) for c in section.server_configs],
        "warnings": options.parse_warnings,
    }, indent=1))


main()
