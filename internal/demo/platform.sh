#!/bin/sh
# platform.sh: the demo's platform. A real one would call kubectl, helm or a cloud API; this one logs each call
# to platform.log and records its effect as files under state/, which the demo's HTTP app serves. Every
# operation is idempotent: running it twice leaves the same files.
#
#   deploy ENV TRACK VERSION REPLICAS   run VERSION on TRACK
#   set-weight ENV TRACK WEIGHT         send WEIGHT % of traffic to TRACK
#   promote ENV TRACK VERSION           make TRACK's VERSION the stable one, with all traffic
#   rollback ENV STABLE_VERSION         run STABLE_VERSION on the stable track again, with all traffic
#   remove ENV TRACK VERSION            stop VERSION on TRACK
#   ready ENV TRACK                     exit 0 once TRACK runs
#   e2e ENV VERSION                     exit 0 when VERSION runs in ENV
set -eu
cd "$(dirname "$0")"
mkdir -p state
echo "$(date -u +%H:%M:%S) $*" >> platform.log
op=$1
env=$2
case "$op" in
deploy)
	echo "$4" > "state/$env.$3"
	;;
set-weight)
	echo "$4" > "state/$env.weight"
	;;
promote)
	echo "$4" > "state/$env.stable"
	echo 0 > "state/$env.weight"
	;;
rollback)
	if [ -n "${3:-}" ]; then echo "$3" > "state/$env.stable"; fi
	echo 0 > "state/$env.weight"
	;;
remove)
	if [ "$3" != stable ] && [ "$(cat "state/$env.$3" 2>/dev/null)" = "$4" ]; then rm -f "state/$env.$3"; fi
	;;
ready)
	test -s "state/$env.$3"
	;;
e2e)
	grep -qx "$3" state/"$env".* || { echo "version $3 does not run in $env" >&2; exit 1; }
	;;
*)
	echo "platform.sh: unknown operation $op" >&2
	exit 2
	;;
esac
