#!/usr/bin/env bash
# The Slurm test: `experiments slurm` against a real one-node Slurm from Debian's packages.
#
# As root, it installs slurm-wlm (which brings munge) when missing, writes a one-node
# slurm.conf for this host in a temporary directory, starts munged (unless one runs already),
# slurmctld and slurmd on their own ports, and then:
#   1. runs figures 19 and 16 at quick scale in one process;
#   2. runs each as a job array of 4 tasks (`experiments slurm figure ID --tasks 4 --submit`)
#      and checks that index.csv and report.md equal the single process's, apart from timing;
#   3. submits figure 16 again into a new directory, cancels one array task part-way
#      (scancel), resubmits with submit.sh, and checks that exactly the batches missing after
#      the cancel were trained and the results are still identical.
# It stops the daemons it started, by their PIDs, and leaves nothing running.
#
# Usage: tests/slurm/run.sh [path/to/experiments]   (default: target/release/experiments)
# Set LOGIT_REG_SKIP_SLURM=1 to skip it (e.g. as a user without root).
set -euo pipefail
cd "$(dirname "$0")/../.."
if [[ "${LOGIT_REG_SKIP_SLURM:-0}" == 1 ]]; then
    echo "slurm test: skipped (LOGIT_REG_SKIP_SLURM=1)"
    exit 0
fi
if [[ "$(id -u)" != 0 ]]; then
    echo "slurm test: needs root to install and start Slurm (or set LOGIT_REG_SKIP_SLURM=1)" >&2
    exit 1
fi
start_time=$(date +%s)
BIN="$(realpath "${1:-target/release/experiments}")"
[[ -x "$BIN" ]] || { echo "slurm test: $BIN not built (cargo build --release)" >&2; exit 1; }
TIMEOUT=${LOGIT_REG_SLURM_TIMEOUT:-600}

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    echo "== installing slurm-wlm from Debian's packages"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm >/dev/null
fi

WORK="$(mktemp -d /tmp/logit-reg-slurm.XXXXXX)"
STARTED_PIDS=()
cleanup() {
    local rc=$?
    for pid in "${STARTED_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${STARTED_PIDS[@]}"; do
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    done
    if [[ $rc != 0 ]]; then
        echo "slurm test failed; daemon logs:" >&2
        tail -n 20 "$WORK"/*.log >&2 2>/dev/null || true
        tail -n 20 "$WORK"/*/slurm/logs/* >&2 2>/dev/null || true
    fi
    rm -rf "$WORK"
    exit $rc
}
trap cleanup EXIT

# munge: the package makes the key; the daemon runs as the munge user.
if [[ ! -s /etc/munge/munge.key ]]; then
    runuser -u munge -- mungekey --create --keyfile=/etc/munge/munge.key
fi
mkdir -p /run/munge && chown munge:munge /run/munge
if ! pgrep -x munged >/dev/null; then
    runuser -u munge -- munged
    for _ in $(seq 50); do [[ -s /run/munge/munged.pid ]] && break; sleep 0.1; done
    STARTED_PIDS+=("$(cat /run/munge/munged.pid)")
fi

HOST="$(hostname -s)"
NODE_LINE="$(slurmd -C | head -n 1 | sed "s/^NodeName=[^ ]*/NodeName=$HOST/")"
export SLURM_CONF="$WORK/slurm.conf"
mkdir -p "$WORK/state" "$WORK/spool"
cat >"$SLURM_CONF" <<EOF
ClusterName=logitreg
SlurmctldHost=$HOST
SlurmUser=root
SlurmctldPort=6917
SlurmdPort=6918
AuthType=auth/munge
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/slurmctld.log
SlurmdLogFile=$WORK/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
MinJobAge=600
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
$NODE_LINE State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
echo "== starting slurmctld and slurmd ($NODE_LINE)"
slurmctld -c -f "$SLURM_CONF"
for _ in $(seq 50); do [[ -s "$WORK/slurmctld.pid" ]] && break; sleep 0.1; done
STARTED_PIDS+=("$(cat "$WORK/slurmctld.pid")")
slurmd -f "$SLURM_CONF"
for _ in $(seq 50); do [[ -s "$WORK/slurmd.pid" ]] && break; sleep 0.1; done
STARTED_PIDS+=("$(cat "$WORK/slurmd.pid")")
for _ in $(seq 300); do
    sinfo -h -o %t 2>/dev/null | grep -qE '^idle' && break
    sleep 0.2
done
sinfo -h -o %t | grep -qE '^idle' || { echo "the node never became idle"; sinfo; exit 1; }

# The state of job (or array task) $1, from scontrol (no accounting database here).
job_state() {
    scontrol show job "$1" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' | head -n 1
}

# Waits until none of the jobs $@ is pending or running.
wait_jobs() {
    local deadline=$(( $(date +%s) + TIMEOUT ))
    while squeue -h -j "$(IFS=,; echo "$*")" -t PENDING,RUNNING,CONFIGURING,COMPLETING 2>/dev/null | grep -q .; do
        if (( $(date +%s) > deadline )); then
            echo "jobs $* still queued after $TIMEOUT s"; squeue; exit 1
        fi
        sleep 1
    done
}

# index.csv without the columns that measure time, and report.md without its timing lines.
strip_timing() {
    python3 - "$1" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1] + "/index.csv", newline="")))
keep = [i for i, h in enumerate(rows[0]) if "seconds" not in h]
for row in rows:
    print(",".join(row[i] for i in keep))
for line in open(sys.argv[1] + "/report.md"):
    if "this invocation" not in line:
        print(line, end="")
PY
}

# Submits figure $1 on $2 tasks into $3; sets ARRAY and REPORT.
submit() {
    local line
    line="$("$BIN" --quiet slurm figure "$1" --scale quick --tasks "$2" --out "$3" --submit | tail -n 1)"
    echo "   $line"
    ARRAY="$(sed -n 's/.*array job \([0-9]*\).*/\1/p' <<<"$line")"
    REPORT="$(sed -n 's/.*report job \([0-9]*\).*/\1/p' <<<"$line")"
    [[ -n "$ARRAY" && -n "$REPORT" ]] || { echo "no job ids in: $line"; exit 1; }
}

for id in 19 16; do
    echo "== figure $id: one process, then 4 array tasks"
    "$BIN" --quiet figure "$id" --scale quick --out "$WORK/single$id" >/dev/null
    submit "$id" 4 "$WORK/array$id"
    wait_jobs "$ARRAY" "$REPORT"
    [[ "$(job_state "$REPORT")" == COMPLETED ]] || { echo "report job $REPORT: $(job_state "$REPORT")"; exit 1; }
    diff <(strip_timing "$WORK/single$id") <(strip_timing "$WORK/array$id")
    echo "   identical to the single process (index.csv, report.md; timing aside)"
done

echo "== figure 16: cancel array task 1 part-way, then resubmit"
OUT="$WORK/cancel16"
submit 16 4 "$OUT"
deadline=$(( $(date +%s) + TIMEOUT ))
until [[ "$(job_state "${ARRAY}_1")" == RUNNING ]]; do
    (( $(date +%s) < deadline )) || { echo "task 1 never ran"; exit 1; }
    sleep 0.2
done
sleep 2
scancel "${ARRAY}_1"
wait_jobs "$ARRAY" "$REPORT"
state="$(job_state "${ARRAY}_1")"
[[ "$state" == CANCELLED ]] || { echo "task 1 ended $state before it could be cancelled"; exit 1; }
[[ "$(job_state "$REPORT")" != COMPLETED ]] || { echo "the report job ran after a failed task"; exit 1; }
total=$(find "$WORK/single16" -name done.json | wc -l)
(cd "$OUT" && find . -name done.json -exec sha256sum {} + | sort) >"$WORK/before.txt"
done_before=$(wc -l <"$WORK/before.txt")
missing=$(( total - done_before ))
echo "   after the cancel: $done_before of $total batches done, $missing missing"
(( missing > 0 )) || { echo "nothing was missing: the cancel came too late"; exit 1; }
line="$(bash "$OUT/slurm/submit.sh")"
echo "   resubmitted: $line"
ARRAY="$(sed -n 's/.*array job \([0-9]*\).*/\1/p' <<<"$line")"
REPORT="$(sed -n 's/.*report job \([0-9]*\).*/\1/p' <<<"$line")"
wait_jobs "$ARRAY" "$REPORT"
[[ "$(job_state "$REPORT")" == COMPLETED ]] || { echo "report job $REPORT: $(job_state "$REPORT")"; exit 1; }
(cd "$OUT" && find . -name done.json -exec sha256sum {} + | sort) >"$WORK/after.txt"
unchanged=$(comm -12 "$WORK/before.txt" "$WORK/after.txt" | wc -l)
trained_again=$(( $(wc -l <"$WORK/after.txt") - unchanged ))
echo "   the resubmission trained $trained_again batches; $unchanged were kept"
[[ "$unchanged" == "$done_before" && "$trained_again" == "$missing" ]] \
    || { echo "expected exactly the $missing missing batches to train"; exit 1; }
diff <(strip_timing "$WORK/single16") <(strip_timing "$OUT")
echo "   identical to the single process"
echo "slurm test passed in $(( $(date +%s) - start_time )) s"
