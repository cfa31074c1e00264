# slurm_common.bash — sourced by tests/cli/slurm.sh and slurm_multinode.sh: what their test
# clusters share. Each function reports a problem with the caller's `bad NAME WHY` and returns 1
# (the caller exits: a cluster that cannot start fails the test with the reason).
#   slurm_install          installs slurmctld, slurmd, slurm-client and munge when missing
#   slurm_munged DIR       starts a munged with its own socket DIR/munge.sock (pid, log, seed in DIR)
#   slurm_conf_policy      prints the slurm.conf lines both clusters use after their paths
slurm_install() {
  local need=() c
  for c in slurmctld:slurmctld slurmd:slurmd sbatch:slurm-client munged:munge; do
    command -v "${c%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${c%%:*}" ] || need+=("${c#*:}")
  done
  if [ ${#need[@]} -gt 0 ]; then
    echo "INFO installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # another apt-get (a second test, the deps script) may hold the dpkg lock: wait for it
    local lock=(-o DPkg::Lock::Timeout=300)
    apt-get install "${lock[@]}" -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 ||
      { apt-get update "${lock[@]}" -qq >/dev/null 2>&1 &&
        apt-get install "${lock[@]}" -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1; } ||
      { bad install "apt-get install ${need[*]} failed"; return 1; }
  fi
  PATH=$PATH:/usr/sbin
  [ -r /etc/munge/munge.key ] ||
    { bad munge_key "/etc/munge/munge.key missing (the munge package creates it)"; return 1; }
}

slurm_munged() {  # DIR (owned by munge)
  mkdir -p /run/munge && chown munge:munge /run/munge && chmod 755 /run/munge
  runuser -u munge -- /usr/sbin/munged --socket="$1/munge.sock" --pid-file="$1/munged.pid" \
    --log-file="$1/munged.log" --seed-file="$1/munged.seed" 2>"$1.err" ||
    { bad munged "munged did not start: $(cat "$1.err")"; return 1; }
}

slurm_conf_policy() {
  cat <<CONF
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=pmix
SchedulerParameters=batch_sched_delay=0
EnforcePartLimits=ALL
DependencyParameters=kill_invalid_depend
ReturnToService=2
MailProg=/bin/true
KillWait=5
MinJobAge=600
CONF
}
