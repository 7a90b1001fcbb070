"""Shared parts of the benchmark harnesses bench/full_load, bench/cdc and bench/s3_api (standard
library only).

A harness sets `benchlib.A` (its parsed arguments: work, seed, opendms, build_dir, no_build,
shared_buffers) and `benchlib.CLUSTER` (a started Cluster) before calling the helpers that use them;
every child process it starts goes into CHILDREN so that the harness can kill it on the way out.
"""
import datetime
import glob
import hashlib
import json
import os
import queue
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

A = None            # the harness's parsed arguments
CLUSTER = None      # the running Cluster
CHILDREN = set()    # live Popen objects, killed on the way out
ENV = {}            # environment() plus notes (e.g. a failed rebuild), reported with the results

def log(*parts):
    print(time.strftime("%H:%M:%S"), *parts, file=sys.stderr, flush=True)


class BenchError(Exception):
    """A step of the benchmark failed; the message says which and why."""


# ----------------------------------------------------------------------------- setup and build
def pg_bin_dir():
    """Newest /usr/lib/postgresql/<v>/bin holding initdb, or None."""
    found = []
    for d in glob.glob("/usr/lib/postgresql/*/bin"):
        v = os.path.basename(os.path.dirname(d))
        if os.access(os.path.join(d, "initdb"), os.X_OK) and v.isdigit():
            found.append((int(v), d))
    return max(found)[1] if found else None


def run_checked(argv, what, env=None, cwd=REPO):
    log(what + ":", " ".join(shlex.quote(a) for a in argv))
    r = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    if r.returncode != 0:
        raise BenchError("%s failed (exit %d):\n%s" % (what, r.returncode, r.stdout[-4000:]))
    return r.stdout


def ensure_tools(need_opendms):
    tools_missing = (pg_bin_dir() is None or not shutil.which("psql") or not shutil.which("cmake")
                     or not shutil.which("ninja"))
    opendms_missing = need_opendms and not os.access(A.opendms, os.X_OK)
    if tools_missing or opendms_missing:
        env = dict(os.environ, BUILD_DIR=os.path.dirname(A.opendms), NINJA_FLAGS="-j2")
        argv = [os.path.join(REPO, "scripts", "setup")]
        if not opendms_missing:
            argv.append("--no-build")
        run_checked(argv, "scripts/setup (tools or binaries missing)", env=env)
    if pg_bin_dir() is None or not shutil.which("psql"):
        raise BenchError("PostgreSQL server binaries or psql still missing after scripts/setup")
    if not os.path.exists(os.path.join(A.build_dir, "build.ninja")):
        run_checked(["cmake", "-S", REPO, "-B", A.build_dir, "-G", "Ninja"], "configure")
    targets = ["gen_dataset"]
    run_checked(["ninja", "-C", A.build_dir, "-j2"] + targets, "build gen_dataset")
    if need_opendms:
        rebuild_opendms()


def rebuild_opendms():
    """Brings A.opendms up to date with ninja in its own folder (unless A.no_build, or the folder
    is not a ninja build directory); raises BenchError when there is no binary afterwards."""
    opendms_build = os.path.dirname(A.opendms)
    if not A.no_build and os.path.exists(os.path.join(opendms_build, "build.ninja")):
        # A stale binary would measure old code; a tree other people are editing may not build, in
        # which case the existing binary is used and the report says so.
        try:
            run_checked(["ninja", "-C", opendms_build, "-j2", "opendms"], "build opendms")
        except BenchError as e:
            if not os.access(A.opendms, os.X_OK):
                raise
            log("WARNING: opendms did not rebuild; using the existing binary.", str(e)[-400:])
            ENV["opendms_build_warning"] = "did not rebuild; existing binary used"
    if not os.access(A.opendms, os.X_OK):
        raise BenchError("no opendms binary at %s (see --opendms)" % A.opendms)


def gen_dataset_binary():
    return os.path.join(A.build_dir, "bench", "gen_dataset")


def generator_digest():
    with open(os.path.join(REPO, "bench", "gen_dataset.cc"), "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()[:10]


def dataset(name, gen_args):
    """Generates WORK/data/<name>-<generator digest> once; returns (dir, manifest)."""
    root = os.path.join(A.work, "data")
    out = os.path.join(root, "%s-g%s" % (name, generator_digest()))
    stamp = os.path.join(out, ".complete")
    if not os.path.exists(stamp):
        shutil.rmtree(out, ignore_errors=True)
        t0 = time.perf_counter()
        run_checked([gen_dataset_binary(), "--out", out, "--seed", str(A.seed)] + gen_args,
                    "generate " + name)
        log("generated %s in %.1f s" % (name, time.perf_counter() - t0))
        open(stamp, "w").close()
    with open(os.path.join(out, "manifest.json")) as fh:
        return out, json.load(fh)


# ----------------------------------------------------------------------------- the cluster
class Cluster:
    """A private PostgreSQL cluster: initdb into a fresh directory, start, stop."""

    def __init__(self):
        self.bin = pg_bin_dir()
        self.as_root = os.geteuid() == 0
        base = os.path.join(A.work, "pg")
        if self.as_root and subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", A.work]).returncode != 0:
            import tempfile
            base = tempfile.mkdtemp(prefix="opendms-bench-pg-")
        self.base = base
        self.data = os.path.join(base, "data")
        self.sock = os.path.join(base, "sock")
        self.port = free_port()
        self.running = False

    def _pg(self, argv, **kw):
        if self.as_root:
            argv = ["runuser", "-u", "postgres", "--"] + argv
        return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)

    def start(self):
        if os.path.exists(os.path.join(self.data, "postmaster.pid")):
            self._pg([os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-m", "immediate", "stop"])
        shutil.rmtree(self.base, ignore_errors=True)
        os.makedirs(self.data)
        os.makedirs(self.sock)
        if self.as_root:
            shutil.chown(self.base, "postgres")
            shutil.chown(self.data, "postgres")
            shutil.chown(self.sock, "postgres")
        os.chmod(self.data, 0o700)
        r = self._pg([os.path.join(self.bin, "initdb"), "-D", self.data, "-U", "postgres",
                      "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"])
        if r.returncode != 0:
            raise BenchError("initdb failed:\n" + r.stdout[-3000:])
        # Bulk-load friendly but durable (as /work/shared/bench/pg_cluster.sh): fsync, full page
        # writes and synchronous commit stay on; big WAL and checkpoint spacing; no autovacuum
        # stealing one of the cores in the middle of a case.
        conf = """
# ---- opendms bench ----
listen_addresses = '127.0.0.1'
port = {port}
unix_socket_directories = '{sock}'
max_connections = 50
shared_buffers = {shared_buffers}
wal_buffers = 64MB
max_wal_size = 20GB
min_wal_size = 1GB
checkpoint_timeout = 30min
checkpoint_completion_target = 0.9
maintenance_work_mem = 1GB
work_mem = 64MB
wal_level = replica
fsync = on
synchronous_commit = on
full_page_writes = on
autovacuum = off
logging_collector = off
log_min_messages = warning
""".format(port=self.port, sock=self.sock, shared_buffers=A.shared_buffers)
        with open(os.path.join(self.data, "postgresql.conf"), "a") as fh:
            fh.write(conf)
        # Own session: a Ctrl-C in the terminal must not reach the postmaster before we stop it.
        argv = [os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-l",
                os.path.join(self.base, "server.log"), "-w", "-t", "60", "start"]
        r = self._pg(argv, start_new_session=True)
        if r.returncode != 0:
            log_tail = ""
            try:
                with open(os.path.join(self.base, "server.log")) as fh:
                    log_tail = fh.read()[-3000:]
            except OSError:
                pass
            raise BenchError("pg_ctl start failed:\n%s\n%s" % (r.stdout[-2000:], log_tail))
        self.running = True
        log("PostgreSQL running at 127.0.0.1:%d (data %s)" % (self.port, self.data))

    def stop(self):
        if not self.running:
            return
        self.running = False
        r = self._pg([os.path.join(self.bin, "pg_ctl"), "-D", self.data, "-m", "fast", "-w", "-t",
                      "120", "stop"])
        if r.returncode != 0:
            log("pg_ctl stop: " + r.stdout.strip())
            return
        # The cluster is throwaway and its WAL runs to gigabytes at full size.
        shutil.rmtree(self.base, ignore_errors=True)
        log("PostgreSQL stopped and removed")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]



def psql_argv(extra=(), db="bench"):
    return ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
            str(CLUSTER.port), "-U", "postgres", "-d", db] + list(extra)


def sql(query, db="bench"):
    r = subprocess.run(psql_argv(["-At", "-c", query], db=db), capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError("psql failed: %s\n%s" % (query[:300], r.stderr[-2000:]))
    return r.stdout.strip()


def fresh_database(schema_sql=None):
    """Drops and recreates database `bench` (nothing a previous case left survives: tables,
    opendms's control schema, checkpoints), optionally runs the schema, then CHECKPOINT."""
    sql("DROP DATABASE IF EXISTS bench WITH (FORCE)", db="postgres")
    sql("CREATE DATABASE bench", db="postgres")
    if schema_sql:
        r = subprocess.run(psql_argv(["-f", schema_sql]), capture_output=True, text=True)
        if r.returncode != 0:
            raise BenchError("schema failed:\n" + r.stderr[-2000:])
    sql("CHECKPOINT")


def fingerprint(tables):
    """{table: "count:sum(hashtext(row text))"}; a missing table reads as "missing"."""
    out = {}
    for t in tables:
        if sql("SELECT to_regclass('public.%s') IS NOT NULL" % quote_ident(t)) != "t":
            out[t] = "missing"
            continue
        out[t] = sql("SELECT count(*) || ':' || coalesce(sum(hashtext(x::text)::bigint), 0) "
                     "FROM public.%s x" % quote_ident(t))
    return out


def quote_ident(name):
    return '"' + name.replace('"', '""') + '"'


def wal_lsn():
    return sql("SELECT pg_current_wal_lsn()")


def wal_bytes_since(lsn):
    return int(float(sql("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '%s')" % lsn)))


# ----------------------------------------------------------------------------- psql streams
class PsqlSession:
    """One persistent psql connection fed over stdin; run() blocks until its commands finished."""

    def __init__(self, err_path):
        self.err = open(err_path, "w+")
        self.proc = subprocess.Popen(psql_argv(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.err, text=True, bufsize=1)
        CHILDREN.add(self.proc)
        self.n = 0

    def run(self, commands):
        self.n += 1
        mark = "__done_%d__" % self.n
        self.proc.stdin.write(commands.rstrip() + "\n\\echo " + mark + "\n")
        self.proc.stdin.flush()
        while True:
            line = self.proc.stdout.readline()
            if not line:
                self.err.seek(0)
                raise BenchError("psql session died: " + self.err.read()[-2000:])
            if line.strip() == mark:
                return

    def close(self):
        try:
            self.proc.stdin.close()
            self.proc.stdout.read()
            rc = self.proc.wait()
        finally:
            CHILDREN.discard(self.proc)
        self.err.seek(0)
        text = self.err.read()
        self.err.close()
        os.unlink(self.err.name)
        if rc != 0:
            raise BenchError("psql exited %d: %s" % (rc, text[-2000:]))


def copy_streams(files, streams):
    """\\copy every file, `streams` psql sessions pulling from one queue (one COPY and one
    commit per file)."""
    q = queue.Queue()
    for f in files:
        if "'" in f["abs"]:
            raise BenchError("path with a quote: " + f["abs"])
        q.put("\\copy public.%s from '%s' with (format csv)" % (quote_ident(f["table"]), f["abs"]))
    errors = []

    def loop(i):
        try:
            session = PsqlSession(os.path.join(A.work, "psql_stream_%d.err" % i))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
            return
        try:
            while not errors:
                try:
                    cmd = q.get_nowait()
                except queue.Empty:
                    break
                session.run(cmd)
        except Exception as e:  # noqa: BLE001
            errors.append(e)
        finally:
            try:
                session.close()
            except Exception as e:  # noqa: BLE001
                errors.append(e)

    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(streams)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


def interleave(manifest, data_dir):
    """Files round-robin over tables, so parallel streams mostly hit different tables
    (PostgreSQL serialises relation extension per table)."""
    per_table = []
    for t, e in manifest["tables"].items():
        per_table.append([{"table": t, "abs": os.path.join(data_dir, f["path"]), "rows": f["rows"],
                           "bytes": f["bytes"]} for f in e["files"]])
    out = []
    for i in range(max(len(x) for x in per_table)):
        for x in per_table:
            if i < len(x):
                out.append(x[i])
    return out



# ----------------------------------------------------------------------------- opendms
def endpoint_documents(data_dir, manifest, s3_settings=None):
    """The source (S3, the data set's bucket and ExternalTableDefinition, plus `s3_settings`) and
    target (the cluster's database `bench`) endpoint documents, as dicts."""
    with open(os.path.join(data_dir, "table_definitions.json")) as fh:
        table_definitions = fh.read()
    s3 = {"BucketName": manifest["bucket"], "BucketFolder": manifest["bucket_folder"],
          "CsvDelimiter": ",", "CsvRowDelimiter": "\\n", "IgnoreHeaderRows": 0,
          "Rfc4180": True, "ExternalTableDefinition": table_definitions}
    s3.update(s3_settings or {})
    src = {"EndpointIdentifier": "bench-src", "EndpointType": "source", "EngineName": "s3",
           "S3Settings": s3}
    tgt = {"EndpointIdentifier": "bench-tgt", "EndpointType": "target", "EngineName": "postgres",
           "ServerName": "127.0.0.1", "Port": CLUSTER.port, "DatabaseName": "bench",
           "Username": "postgres", "Password": "x"}
    return src, tgt


def write_documents(directory, docs):
    """Writes {file name: document} as JSON files in `directory`; returns their paths in order."""
    os.makedirs(directory, exist_ok=True)
    paths = []
    for name, doc in docs.items():
        p = os.path.join(directory, name)
        with open(p, "w") as fh:
            json.dump(doc, fh, indent=1)
        paths.append(p)
    return paths


class OpendmsRun:
    """One `opendms run-task` process: stdout (the JSON document) and stderr go to files in
    `directory`. start() returns at once; finish() waits and returns the parsed stdout document."""

    def __init__(self, argv, directory, name="opendms"):
        self.argv = argv
        self.out_path = os.path.join(directory, name + ".stdout.json")
        self.err_path = os.path.join(directory, name + ".stderr.log")
        self.proc = None
        self.peak_rss_mb = None
        self.cpu_s = None

    def start(self):
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=err)
        CHILDREN.add(self.proc)
        return self

    def _reap(self, flags):
        # wait4 gives this child's own rusage: peak RSS (KiB on Linux) and CPU. The process is
        # reaped here only (never by Popen.poll), so that its rusage is not lost.
        pid, status, usage = os.wait4(self.proc.pid, flags)
        if pid == 0:
            return False
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.peak_rss_mb = usage.ru_maxrss / 1024.0
        self.cpu_s = usage.ru_utime + usage.ru_stime
        return True

    def running(self):
        return self.proc.returncode is None and not self._reap(os.WNOHANG)

    def finish(self):
        """Waits for the process. Raises BenchError on a non-zero exit or an unreadable document."""
        try:
            if self.proc.returncode is None:
                self._reap(0)
        finally:
            CHILDREN.discard(self.proc)
        with open(self.out_path) as fh:
            stdout = fh.read()
        if self.proc.returncode != 0:
            with open(self.err_path) as fh:
                tail = fh.read()[-3000:]
            raise BenchError("opendms exited %d: %s\nstderr (%s):\n%s" % (
                self.proc.returncode, " ".join(shlex.quote(a) for a in self.argv), self.err_path, tail))
        try:
            doc = json.loads(stdout)
            if not isinstance(doc, dict):
                raise TypeError("not an object")
        except (ValueError, TypeError) as e:
            raise BenchError("opendms printed no readable JSON document (%s): %s" % (e, stdout[:500]))
        return doc


# ----------------------------------------------------------------------------- measuring
def cpu_busy_seconds():
    """Machine-wide busy CPU-seconds (user+nice+system+irq+softirq, all cores)."""
    with open("/proc/stat") as fh:
        f = fh.readline().split()
    v = [int(x) for x in f[1:9]]
    return (v[0] + v[1] + v[2] + v[5] + v[6]) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


# ----------------------------------------------------------------------------- report helpers
def median(xs):
    return statistics.median(xs) if xs else None


def fmt_int(x):
    return "{:,.0f}".format(x)


def environment(pg=True):
    """Date, CPU, git revision and (with pg, from the running CLUSTER) PostgreSQL's version and settings."""
    def cmd(argv):
        try:
            return subprocess.run(argv, cwd=REPO, capture_output=True, text=True).stdout.strip()
        except OSError:
            return ""
    model = ""
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    dirty = cmd(["git", "status", "--porcelain"])
    env = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "cpu": "%d cores, %s" % (os.cpu_count(), model),
           "git": cmd(["git", "rev-parse", "--short", "HEAD"]) + (" (dirty)" if dirty else "")}
    if not pg:
        return env
    return {"date": env["date"], "cpu": env["cpu"], "git": env["git"],
            "pg_version": sql("SHOW server_version", db="postgres"),
            "settings": sql("SELECT string_agg(name || '=' || current_setting(name), ', ' ORDER BY name) "
                            "FROM pg_settings WHERE name IN ('shared_buffers','wal_level','max_wal_size',"
                            "'synchronous_commit','fsync','autovacuum','wal_buffers','maintenance_work_mem',"
                            "'checkpoint_timeout','full_page_writes')", db="postgres")}



# ----------------------------------------------------------------------------- main
def on_sigterm(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


def run_main(main):
    """Runs main(argv) as a harness's entry point: exit status 1 on a BenchError, 130 when
    interrupted (SIGINT or SIGTERM), else main's return value."""
    signal.signal(signal.SIGTERM, on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started with SIGINT ignored
    try:
        sys.exit(main(sys.argv[1:]))
    except BenchError as e:
        log("ERROR:", e)
        sys.exit(1)
    except KeyboardInterrupt:
        log("interrupted")
        sys.exit(130)


def kill_children():
    for p in list(CHILDREN):
        try:
            p.kill()
        except OSError:
            pass
