# SPDX-License-Identifier: MIT
"""The `tandem` command line: subcommands, --help, misuse, configuration
errors, migrations."""
import os
import sqlite3
import subprocess

from conftest import BIN, Browser, Tandem


def run(*args, env=None, input=None):
    return subprocess.run([BIN, *args], env=env, input=input, capture_output=True, text=True,
                          timeout=60)


def test_version_and_help():
    r = run("version")
    assert r.returncode == 0 and r.stdout.startswith("tandem ")
    r = run("--help")
    assert r.returncode == 0 and "serve" in r.stdout and "user add" in r.stdout
    for cmd in (["serve"], ["user"], ["migrate"], ["invite"], ["config"]):
        r = run(*cmd, "--help")
        assert r.returncode == 0, cmd
        assert "usage: tandem" in r.stdout, cmd


def test_misuse():
    assert run().returncode == 2
    r = run("frobnicate")
    assert r.returncode == 2 and "unknown command 'frobnicate'" in r.stderr
    r = run("--bogus")
    assert r.returncode == 2
    t = Tandem()
    try:
        r = t.cli("user")
        assert r.returncode == 2 and "usage" in r.stderr
        r = t.cli("user", "explode", "x")
        assert r.returncode == 2
        r = t.cli("user", "add")
        assert r.returncode == 2 and "name is needed" in r.stderr
        r = t.cli("user", "disable", "ghost")
        assert r.returncode == 1 and "no such user" in r.stderr
        r = t.cli("invite", "create", "--uses", "zero")
        assert r.returncode == 2
        r = t.cli("serve", "extra")
        assert r.returncode == 2
    finally:
        t.cleanup()


def test_user_lifecycle():
    t = Tandem()
    try:
        r = t.cli("user", "add", "Root_1", "--admin", "--password-stdin", input="s3cret pass\n")
        assert r.returncode == 0 and "created Root_1 as admin (Root_1@localhost)" in r.stdout
        r = t.cli("user", "add", "root_1", "--password-stdin", input="another one\n")
        assert r.returncode == 1 and "taken" in r.stderr
        r = t.cli("user", "add", "api", "--password-stdin", input="another one\n")
        assert r.returncode == 1 and "reserved" in r.stderr
        r = t.cli("user", "add", "shorty", "--password-stdin", input="abc\n")
        assert r.returncode == 1 and "too short" in r.stderr
        r = t.cli("user", "add", "nopw")          # no terminal, no --password-stdin
        assert r.returncode == 1 and "--password-stdin" in r.stderr
        t.add_user("zoe")
        out = t.cli("user", "list").stdout.splitlines()
        assert out[0].startswith("Root_1") and "admin" in out[0]
        assert out[1].startswith("zoe") and "active" in out[1]
        assert t.cli("user", "disable", "ZOE").returncode == 0
        assert "disabled" in t.cli("user", "list").stdout.splitlines()[1]
        assert t.cli("user", "enable", "zoe").returncode == 0
        r = t.cli("user", "passwd", "zoe", "--password-stdin", input="brand new pw\n")
        assert r.returncode == 0
        t.start()
        assert Browser(t.url).login("zoe", "brand new pw").status_code == 303
        assert Browser(t.url).login("zoe", "correct horse").status_code == 403
        assert t.stop() == 0
    finally:
        t.stop()
        t.cleanup()


def test_bad_config_names_the_option():
    t = Tandem({"TANDEM_HTTP_MAX_BODY_BYTES": "lots"})
    try:
        r = t.cli("serve")
        assert r.returncode == 1
        assert "TANDEM_HTTP_MAX_BODY_BYTES" in r.stderr and "http.max_body_bytes" in r.stderr
    finally:
        t.cleanup()
    t = Tandem(ini="[http]\nidle_timeout = 0\n")
    try:
        r = t.cli("serve")
        assert r.returncode == 1 and "tandem.ini:2" in r.stderr and "http.idle_timeout" in r.stderr
        r = t.cli("config", "check")
        assert r.returncode == 1
    finally:
        t.cleanup()
    t = Tandem(ini="[accounts]\nsignup = invite\n")
    try:
        r = t.cli("config", "dump")
        assert r.returncode == 0 and "signup = invite" in r.stdout
    finally:
        t.cleanup()


def test_example_config_loads():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    r = run("--config", os.path.join(root, "conf", "tandem.ini.example"), "config", "check")
    assert r.returncode == 0, r.stderr


def test_migrate_and_newer_database():
    t = Tandem()
    try:
        r = t.cli("migrate")
        assert r.returncode == 0 and "migrated from schema version 0" in r.stdout
        r = t.cli("migrate")
        assert r.returncode == 0 and "up to date" in r.stdout
        db = os.path.join(t.data, "tandem.db")
        con = sqlite3.connect(db)
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        version = con.execute("PRAGMA user_version").fetchone()[0]
        con.execute("PRAGMA user_version = %d" % (version + 1))
        con.commit()
        con.close()
        r = t.cli("serve")
        assert r.returncode == 1 and "newer than this tandem" in r.stderr
        r = t.cli("migrate")
        assert r.returncode == 1 and "newer" in r.stderr
    finally:
        t.cleanup()
